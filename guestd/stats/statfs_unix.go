//go:build unix

package stats

import (
	"fmt"

	"golang.org/x/sys/unix"
)

func diskUsage(path string) (Usage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return Usage{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	return Usage{Total: st.Blocks * uint64(st.Bsize), Used: (st.Blocks - st.Bfree) * uint64(st.Bsize)}, nil
}
