//go:build unix

package libvirt

import "golang.org/x/sys/unix"

func hardFileLimit() (uint64, bool) {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return 0, false
	}
	return r.Max, true
}
