//go:build !linux && !darwin && !windows

package main

import (
	"fmt"
	"log/slog"
	"runtime"

	"github.com/berthvm/berth/vmhost"
)

func newBackend(*slog.Logger) (vmhost.Backend, error) {
	return nil, fmt.Errorf("no hypervisor backend for %s yet", runtime.GOOS)
}
