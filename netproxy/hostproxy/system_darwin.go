package hostproxy

import (
	"context"
	"fmt"
	"os/exec"
)

// System reads macOS's proxies with scutil, as the Network settings set
// them (the SystemConfiguration store; no cgo).
func System() Source {
	return SourceFunc(func(ctx context.Context) (Settings, error) {
		out, err := exec.CommandContext(ctx, "scutil", "--proxy").Output()
		if err != nil {
			return Settings{}, fmt.Errorf("scutil --proxy: %w", err)
		}
		return ParseScutil(string(out))
	})
}
