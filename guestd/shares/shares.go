//go:build linux

// Package shares mounts the host folders the hypervisor exports, each at
// its own path, and keeps them mounted. virtiofs is tried first (libvirt,
// vz), then 9p over virtio (QEMU without virtiofsd); a share the host
// serves on a vsock port (Hyper-V) is 9p over that connection.
package shares

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthvm/berth/guestd/mounts"
	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/guestd/vsock"
)

// Options of the 9p client: 9P2000.L for POSIX semantics, a 512 KiB msize
// for throughput (the default 8 KiB costs a round trip per page), and
// mmap caching so that programs that mmap files work.
const ninePOptions = "version=9p2000.L,msize=524288,cache=mmap"

// Mounter mounts shares.
type Mounter struct {
	// Load loads a kernel module; an error means the kernel lacks it.
	Load func(name string) error
	Log  *slog.Logger
	// mount is unix.Mount, dial vsock.Dial to the host: replaceable in
	// tests.
	mount func(source, target, fstype string, flags uintptr, data string) error
	dial  func(port uint32) (*os.File, error)
}

// NewMounter returns a Mounter that uses the real mount(2).
func NewMounter(load func(string) error, log *slog.Logger) *Mounter {
	return &Mounter{Load: load, Log: log, mount: unix.Mount, dial: func(port uint32) (*os.File, error) {
		return vsock.Dial(vsock.Host, port)
	}}
}

// Mount mounts one share at its path and returns the filesystem used.
func (m *Mounter) Mount(s protocol.Share) (string, error) {
	if err := os.MkdirAll(s.Path, 0o755); err != nil {
		return "", fmt.Errorf("share %s: %w", s.Path, err)
	}
	var flags uintptr
	if s.ReadOnly {
		flags |= unix.MS_RDONLY
	}
	if s.VsockPort != 0 {
		return m.mountVsock(s, flags)
	}
	var errs []error
	for _, fs := range []struct {
		fstype, data string
		modules      []string
	}{
		{"virtiofs", "", []string{"virtiofs"}},
		{"9p", "trans=virtio," + ninePOptions, []string{"9pnet_virtio", "9p"}},
	} {
		if err := m.loadAll(fs.modules); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", fs.fstype, err))
			continue
		}
		err := m.mount(s.Tag, s.Path, fs.fstype, flags, fs.data)
		if err == nil {
			return fs.fstype, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", fs.fstype, err))
	}
	return "", fmt.Errorf("mount shared folder %s (tag %s): %w", s.Path, s.Tag, errors.Join(errs...))
}

// mountVsock mounts 9p over a connection to the share's 9P server: the
// kernel takes the socket as both its read and write descriptor and keeps
// its own reference, so ours is closed after the mount.
func (m *Mounter) mountVsock(s protocol.Share, flags uintptr) (string, error) {
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("mount shared folder %s (9p over vsock port %d): %w", s.Path, s.VsockPort, err)
	}
	if err := m.loadAll([]string{"9pnet", "9p"}); err != nil {
		return fail(err)
	}
	conn, err := m.dial(s.VsockPort)
	if err != nil {
		return fail(err)
	}
	defer conn.Close()
	fd := conn.Fd()
	data := fmt.Sprintf("trans=fd,rfdno=%d,wfdno=%d,%s", fd, fd, ninePOptions)
	if err := m.mount(s.Tag, s.Path, "9p", flags, data); err != nil {
		return fail(err)
	}
	return "9p", nil
}

func (m *Mounter) loadAll(modules []string) error {
	for _, name := range modules {
		if err := m.Load(name); err != nil {
			return err
		}
	}
	return nil
}

// Keep checks the shares every interval until ctx ends and mounts again any
// that went away (unmounted, or its host side gone and reconnected).
func (m *Mounter) Keep(ctx context.Context, shares []protocol.Share, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		points, err := mounts.MountPoints()
		if err != nil {
			m.Log.Warn("checking shared folders", "err", err)
			continue
		}
		for _, s := range shares {
			if points[s.Path] && healthy(s.Path) {
				continue
			}
			if points[s.Path] {
				// Still in the table but dead (ENOTCONN): detach it first.
				unix.Unmount(s.Path, unix.MNT_DETACH) //nolint:errcheck // undoing a failed mount; the mount error is reported
			}
			if fs, err := m.Mount(s); err != nil {
				m.Log.Warn("shared folder dropped and could not be mounted again", "path", s.Path, "err", err)
			} else {
				m.Log.Info("shared folder mounted again", "path", s.Path, "fs", fs)
			}
		}
	}
}

// healthy reports whether the mount answers: a virtiofs whose daemon died
// or a 9p whose transport went away fails with ENOTCONN or EIO.
func healthy(path string) bool {
	var st unix.Stat_t
	err := unix.Stat(path, &st)
	return !errors.Is(err, unix.ENOTCONN) && !errors.Is(err, unix.EIO)
}
