package main

import (
	"log/slog"

	"github.com/berthvm/berth/vmhost"
	"github.com/berthvm/berth/vmhost/vz"
)

// newBackend is Apple's Virtualization framework on macOS; the VM runs in
// the daemon's process.
func newBackend(log *slog.Logger) (vmhost.Backend, error) {
	return vz.New(log, vz.Options{})
}
