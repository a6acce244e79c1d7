package main

import (
	"context"
	"log/slog"

	"github.com/berthvm/berth/app/settings"
	"github.com/berthvm/berth/vmhost"
	"github.com/berthvm/berth/vmhost/hyperv"
)

// newBackend is Hyper-V on Windows.
func newBackend(_ context.Context, log *slog.Logger, _ settings.Paths) (vmhost.Backend, error) {
	return hyperv.New(log)
}
