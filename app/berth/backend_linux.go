package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/berthvm/berth/app/settings"
	"github.com/berthvm/berth/vmhost"
	"github.com/berthvm/berth/vmhost/libvirt"
)

// newBackend is libvirt on Linux: the system daemon for root, the user's
// own session daemon otherwise. BERTH_ACCEL=kvm|tcg forces the accelerator
// (Berth otherwise tries KVM and falls back); BERTH_SHARE_FS=9p|virtiofs
// picks how folders are shared; BERTH_VIRTIOFS="cache=MODE,threads=N,writeback"
// tunes virtiofsd, for measuring alternatives (make bench-share).
func newBackend(ctx context.Context, log *slog.Logger, p settings.Paths) (vmhost.Backend, error) {
	tuning, err := libvirt.ParseShareTuning(os.Getenv("BERTH_VIRTIOFS"))
	if err != nil {
		return nil, fmt.Errorf("BERTH_VIRTIOFS: %w", err)
	}
	return libvirt.Connect(ctx, log, libvirt.Options{
		Accel:    os.Getenv("BERTH_ACCEL"),
		ShareFS:  os.Getenv("BERTH_SHARE_FS"),
		Virtiofs: tuning,
		RunDir:   p.Run,
		StateDir: p.Data,
	})
}
