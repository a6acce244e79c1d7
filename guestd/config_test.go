//go:build linux

package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/berthvm/berth/guestd/protocol"
)

func TestReadConfig(t *testing.T) {
	ctx := context.Background()
	const boot = "console=ttyS0 berth.system_disk=scsi-lun:1 berth.vsock_options=1024"
	served := func(opts string, err error) func(context.Context, protocol.Options) (string, error) {
		return func(_ context.Context, cfg protocol.Options) (string, error) {
			if cfg.VsockOptions != 1024 {
				t.Fatalf("asked port %d", cfg.VsockOptions)
			}
			return opts, err
		}
	}

	cfg, err := readConfig(ctx, boot, served("berth.vsock_nic=1025 berth.data_disk=scsi-lun:2", nil))
	if err != nil || cfg.VsockNIC != 1025 || cfg.DataDisk != "scsi-lun:2" || cfg.SystemDisk != "scsi-lun:1" {
		t.Fatalf("cfg %+v, %v", cfg, err)
	}

	// Without the host's part there is no NIC: that must stop the boot,
	// with what to do, not go on with defaults.
	var lost *hostOptionsError
	for what, fetch := range map[string]func(context.Context, protocol.Options) (string, error){
		"unreachable": served("", errors.New("vsock connect 2:1024: connection reset by peer")),
		"garbled":     served("berth.vsock_nic=x", nil),
	} {
		_, err := readConfig(ctx, boot, fetch)
		if !errors.As(err, &lost) || !strings.Contains(err.Error(), "vsock port 1024") || !strings.Contains(err.Error(), "berth setup") {
			t.Errorf("%s: %v", what, err)
		}
	}

	// Elsewhere the command line is all there is; a bad one boots with
	// defaults (the caller's choice), and nothing is fetched.
	nofetch := func(context.Context, protocol.Options) (string, error) { t.Fatal("fetched"); return "", nil }
	if _, err := readConfig(ctx, "console=hvc0 berth.mtu=x", nofetch); err == nil || errors.As(err, &lost) {
		t.Errorf("bad command line: %v", err)
	}
	if cfg, err := readConfig(ctx, "console=hvc0 berth.mtu=1400", nofetch); err != nil || cfg.MTU != 1400 {
		t.Errorf("plain command line: %+v, %v", cfg, err)
	}
}
