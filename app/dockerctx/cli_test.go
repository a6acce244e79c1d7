package dockerctx

import (
	"errors"
	"strings"
	"testing"
)

func TestMissingCLI(t *testing.T) {
	found := func(string) (string, error) { return "/usr/bin/docker", nil }
	missing := func(string) (string, error) { return "", errors.New("not found") }
	for goos, says := range map[string]string{"windows": "new terminal", "darwin": "brew install docker", "linux": "docker-cli"} {
		if h := MissingCLI(goos, "berth", found); h != "" {
			t.Errorf("%s with docker on PATH: %q", goos, h)
		}
		if h := MissingCLI(goos, "berth", missing); !strings.Contains(h, says) || !strings.Contains(h, "--context berth") {
			t.Errorf("%s: %q does not say %q", goos, h, says)
		}
	}
}
