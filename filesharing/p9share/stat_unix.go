//go:build unix

package p9share

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

// lstatAt stats rel in root without following a final symlink. It opens
// nothing: fstatat on the parent's descriptor, which os.Root closes.
func lstatAt(root *os.Root, rel string) (info, error) {
	fi, err := root.Lstat(rel)
	if err != nil {
		return info{}, err
	}
	return fromFileInfo(fi)
}

// statOpen stats an open file by its descriptor.
func statOpen(f *os.File) (info, error) {
	fi, err := f.Stat()
	if err != nil {
		return info{}, err
	}
	return fromFileInfo(fi)
}

func fromFileInfo(fi os.FileInfo) (info, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return info{}, fmt.Errorf("stat %s: no stat_t", fi.Name())
	}
	a, m, c, b := statTimes(st)
	return info{
		mode:   fi.Mode(),
		dev:    uint64(st.Dev),
		ino:    st.Ino,
		nlink:  uint64(st.Nlink),
		uid:    st.Uid,
		gid:    st.Gid,
		rdev:   uint64(st.Rdev),
		size:   uint64(st.Size),
		blocks: uint64(st.Blocks),
		atime:  time.Unix(int64(a.Sec), int64(a.Nsec)),
		mtime:  time.Unix(int64(m.Sec), int64(m.Nsec)),
		ctime:  time.Unix(int64(c.Sec), int64(c.Nsec)),
		btime:  b,
	}, nil
}
