//go:build unix

package settings

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkOwner refuses a directory someone else owns: in a shared temp dir,
// another user could pre-create it to watch or hijack our sockets.
func checkOwner(dir string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Getuid(); int(st.Uid) != uid {
		return fmt.Errorf("%s is owned by uid %d, not by you (uid %d): remove it, or set BERTH_HOME to a directory of yours", dir, st.Uid, uid)
	}
	return nil
}
