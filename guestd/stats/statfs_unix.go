//go:build unix

package stats

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/berthvm/berth/guestd/protocol"
)

// DiskUsage is the size and use of the filesystem mounted at path.
func DiskUsage(path string) (protocol.Usage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return protocol.Usage{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	return protocol.Usage{Total: st.Blocks * uint64(st.Bsize), Used: (st.Blocks - st.Bfree) * uint64(st.Bsize)}, nil
}
