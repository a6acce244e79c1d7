package main

import (
	"log/slog"
	"os"

	"github.com/berthvm/berth/vmhost"
	"github.com/berthvm/berth/vmhost/libvirt"
)

// newBackend is libvirt on Linux. BERTH_ACCEL=tcg forces emulation.
func newBackend(log *slog.Logger) (vmhost.Backend, error) {
	return libvirt.Connect(log, os.Getenv("BERTH_ACCEL") == "tcg")
}
