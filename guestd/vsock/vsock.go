//go:build linux

// Package vsock dials the host over virtual sockets: Hyper-V's, where they
// carry what other hypervisors give the guest as devices (the NIC, the
// options, the shares).
package vsock

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Host is the host's context ID.
const Host = unix.VMADDR_CID_HOST

// Dial connects to port on the vsock peer cid. The file is non-blocking,
// so the runtime's poller serves it and Close interrupts a pending read.
func Dial(cid, port uint32) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("vsock socket (is a vsock transport module loaded?): %w", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrVM{CID: cid, Port: port}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("vsock connect %d:%d: %w", cid, port, err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), fmt.Sprintf("vsock:%d:%d", cid, port)), nil
}

// DialRetry dials until it connects or wait is over: the host may serve
// the port a moment after the guest first asks.
func DialRetry(ctx context.Context, cid, port uint32, wait time.Duration) (*os.File, error) {
	deadline := time.Now().Add(wait)
	for {
		f, err := Dial(cid, port)
		if err == nil || time.Now().After(deadline) {
			return f, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
