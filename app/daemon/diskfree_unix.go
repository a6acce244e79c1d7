//go:build !windows

package daemon

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// diskFree is the room left to this user on path's filesystem.
func diskFree(path string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}
