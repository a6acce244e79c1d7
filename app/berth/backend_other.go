//go:build !linux && !darwin && !windows

package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"

	"github.com/berthvm/berth/app/settings"
	"github.com/berthvm/berth/vmhost"
)

func newBackend(context.Context, *slog.Logger, settings.Paths) (vmhost.Backend, error) {
	return nil, fmt.Errorf("no hypervisor backend for %s yet", runtime.GOOS)
}
