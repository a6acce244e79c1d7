package hostproxy

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// System reads GNOME's proxy settings with gsettings, where it and the
// schema are installed (a GNOME, Cinnamon, MATE or Budgie desktop; on
// others the environment is the only setting): what GNOME Settings ›
// Network › Proxy set, read again on each call, so a change is followed
// without a restart.
func System() Source {
	gsettings, err := exec.LookPath("gsettings")
	if err != nil {
		return nil
	}
	return SourceFunc(func(ctx context.Context) (Settings, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var stderr strings.Builder
		cmd := exec.CommandContext(ctx, gsettings, "list-recursively", gnomeSchema)
		cmd.Stderr = &stderr
		cmd.Env = append(os.Environ(), "LC_ALL=C") // its messages untranslated
		out, err := cmd.Output()
		if err != nil {
			if strings.Contains(stderr.String(), "No such schema") {
				return Settings{Source: "environment"}, nil // no GNOME settings here
			}
			return Settings{}, fmt.Errorf("gsettings list-recursively %s: %w: %s", gnomeSchema, err, strings.TrimSpace(stderr.String()))
		}
		return ParseGSettings(string(out))
	})
}
