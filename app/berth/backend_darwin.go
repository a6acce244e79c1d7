package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/berthvm/berth/app/settings"
	"github.com/berthvm/berth/vmhost"
	"github.com/berthvm/berth/vmhost/vz"
)

// newBackend is Apple's Virtualization framework on macOS; the VM runs in
// the daemon's process. BERTH_ROSETTA=1 runs amd64 containers through
// Rosetta on Apple silicon, which cannot run them otherwise.
func newBackend(_ context.Context, log *slog.Logger, _ settings.Paths) (vmhost.Backend, error) {
	return vz.New(log, vz.Options{Rosetta: os.Getenv("BERTH_ROSETTA") == "1"})
}
