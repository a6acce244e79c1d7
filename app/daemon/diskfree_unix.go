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

// diskAllocated is what the file at path takes on its filesystem: a
// sparse disk file's allocated blocks, not its length.
func diskAllocated(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	return uint64(st.Blocks) * 512, nil
}
