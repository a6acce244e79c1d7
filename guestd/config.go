//go:build linux

package main

import (
	"context"
	"fmt"

	"github.com/berthvm/berth/guestd/protocol"
)

// hostOptionsError is the host's part of the options missing. Defaults
// cannot stand in for it: they name no NIC, data disk or shares of the
// kind the machine has, so the boot would only fail later and obscurely.
type hostOptionsError struct {
	port uint32
	err  error
}

func (e *hostOptionsError) Error() string {
	return fmt.Sprintf("the machine's options from the host (vsock port %d, berth.vsock_options): %v: Berth serves them while it starts the machine; start it again from Berth, and if this persists run `berth setup` once as administrator", e.port, e.err)
}

func (e *hostOptionsError) Unwrap() error { return e.err }

// readConfig reads the kernel command line and, where it names a vsock
// port for them (berth.vsock_options), the options fetch gets from the
// host there (given what the command line says). An error from the command line alone leaves defaults to
// boot with; a *hostOptionsError does not.
func readConfig(ctx context.Context, cmdline string, fetch func(ctx context.Context, cfg protocol.Options) (string, error)) (protocol.Options, error) {
	cfg, err := protocol.ParseOptions(cmdline)
	if err != nil || cfg.VsockOptions == 0 {
		return cfg, err
	}
	opts, err := fetch(ctx, cfg)
	if err != nil {
		return cfg, &hostOptionsError{port: cfg.VsockOptions, err: err}
	}
	full, err := protocol.ParseOptions(cmdline + " " + opts)
	if err != nil {
		return cfg, &hostOptionsError{port: cfg.VsockOptions, err: err}
	}
	return full, nil
}
