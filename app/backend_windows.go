package main

import (
	"log/slog"

	"github.com/berthvm/berth/vmhost"
	"github.com/berthvm/berth/vmhost/hyperv"
)

// newBackend is Hyper-V on Windows.
func newBackend(log *slog.Logger) (vmhost.Backend, error) {
	return hyperv.New(log)
}
