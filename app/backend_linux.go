package main

import (
	"log/slog"
	"os"

	"github.com/berthvm/berth/vmhost"
	"github.com/berthvm/berth/vmhost/libvirt"
)

// newBackend is libvirt on Linux. BERTH_ACCEL=tcg forces emulation;
// BERTH_SHARE_FS=9p|virtiofs picks how folders are shared.
func newBackend(log *slog.Logger) (vmhost.Backend, error) {
	return libvirt.Connect(log, libvirt.Options{
		TCG:     os.Getenv("BERTH_ACCEL") == "tcg",
		ShareFS: os.Getenv("BERTH_SHARE_FS"),
	})
}
