//go:build unix

package p9share

import (
	"os"

	"github.com/hugelgupf/p9/p9"
	"golang.org/x/sys/unix"
)

// v9fsMagic is what Linux's statfs says of a 9p mount.
const v9fsMagic = 0x01021997

// statFS asks the file system of the share's root, by its handle.
func statFS(_ string, root *os.Root) (p9.FSStat, error) {
	d, err := root.Open(".")
	if err != nil {
		return p9.FSStat{}, err
	}
	defer d.Close()
	rc, err := d.SyscallConn()
	if err != nil {
		return p9.FSStat{}, err
	}
	var st unix.Statfs_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fstatfs(int(fd), &st) }); err != nil {
		return p9.FSStat{}, err
	}
	if serr != nil {
		return p9.FSStat{}, serr
	}
	return p9.FSStat{
		Type:            v9fsMagic,
		BlockSize:       uint32(st.Bsize),
		Blocks:          st.Blocks,
		BlocksFree:      st.Bfree,
		BlocksAvailable: st.Bavail,
		Files:           st.Files,
		FilesFree:       st.Ffree,
		FSID:            uint64(uint32(st.Fsid.Val[0]))<<32 | uint64(uint32(st.Fsid.Val[1])),
		NameLength:      maxNameUTF16,
	}, nil
}
