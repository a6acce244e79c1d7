//go:build linux

// Package mounts sets up the filesystems an init must provide before anything
// else runs, and the ones guestd adds later (data disk binds, overlay root).
package mounts

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is one mount(2) call.
type Mount struct {
	Source, Target, FSType string
	Flags                  uintptr
	Data                   string
	Mode                   os.FileMode // of Target, if guestd creates it
}

const nodevExecSuid = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC

// Early is what every Linux userland expects, in order. cgroup2 alone (the
// unified hierarchy) is what dockerd and runc use without systemd.
func Early() []Mount {
	return []Mount{
		{Source: "proc", Target: "/proc", FSType: "proc", Flags: nodevExecSuid},
		{Source: "sysfs", Target: "/sys", FSType: "sysfs", Flags: nodevExecSuid},
		{Source: "devtmpfs", Target: "/dev", FSType: "devtmpfs", Flags: unix.MS_NOSUID, Data: "mode=0755"},
		{Source: "devpts", Target: "/dev/pts", FSType: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "gid=5,mode=0620,ptmxmode=0666"},
		{Source: "tmpfs", Target: "/dev/shm", FSType: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=1777"},
		{Source: "tmpfs", Target: "/run", FSType: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=0755"},
		{Source: "tmpfs", Target: "/tmp", FSType: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=1777"},
		{Source: "cgroup2", Target: "/sys/fs/cgroup", FSType: "cgroup2", Flags: nodevExecSuid, Data: "nsdelegate"},
	}
}

// Apply mounts each entry whose target is not already a mount point, creating
// targets as needed. Targets already mounted (say, carried over from the
// initrd) are left alone, so Apply is safe to repeat.
func Apply(ms []Mount) error {
	mounted, err := MountPoints()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if mounted[m.Target] {
			continue
		}
		mode := m.Mode
		if mode == 0 {
			mode = 0o755
		}
		if err := os.MkdirAll(m.Target, mode); err != nil {
			return fmt.Errorf("mount %s: %w", m.Target, err)
		}
		if err := unix.Mount(m.Source, m.Target, m.FSType, m.Flags, m.Data); err != nil {
			return fmt.Errorf("mount %s (%s) on %s: %w", m.Source, m.FSType, m.Target, err)
		}
		mounted[m.Target] = true
	}
	return nil
}

// MountPoints returns the set of mount points of this process's namespace.
func MountPoints() (map[string]bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if errors.Is(err, os.ErrNotExist) {
		return map[string]bool{}, nil // /proc itself is not mounted yet
	}
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	return parseMountInfo(f)
}

// parseMountInfo reads mountinfo(5): the fifth field is the mount point, with
// spaces and other specials octal-escaped.
func parseMountInfo(r io.Reader) (map[string]bool, error) {
	points := map[string]bool{}
	s := bufio.NewScanner(r)
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) < 5 {
			return nil, fmt.Errorf("malformed mountinfo line %q", s.Text())
		}
		points[unescape(f[4])] = true
	}
	return points, s.Err()
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Bind bind-mounts source on target, creating both directories.
func Bind(source, target string) error {
	for _, d := range []string{source, target} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("bind %s: %w", target, err)
		}
	}
	if err := unix.Mount(source, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", source, target, err)
	}
	return nil
}
