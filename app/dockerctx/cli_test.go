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

// The dashboard opened from Finder has launchd's PATH, without Homebrew's
// bin: a CLI there is still found, on Apple silicon and on Intel.
func TestMissingCLIOnAMacOutsidePATH(t *testing.T) {
	for _, place := range []string{"/opt/homebrew/bin/docker", "/usr/local/bin/docker"} {
		only := func(name string) (string, error) {
			if name == place {
				return name, nil
			}
			return "", errors.New("not found")
		}
		if h := MissingCLI("darwin", "berth", only); h != "" {
			t.Errorf("docker in %s: %q", place, h)
		}
		if h := MissingCLI("linux", "berth", only); h == "" {
			t.Errorf("linux looked in %s", place)
		}
	}
}
