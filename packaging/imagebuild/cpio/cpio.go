// Package cpio writes an fstree as a cpio archive in the "newc" format,
// the one the Linux kernel unpacks as an initramfs.
package cpio

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/berthvm/berth/packaging/imagebuild/fstree"
)

// Write writes t's entries in path order, every mtime the same. Hard links
// are written as copies: an initramfs is small and this keeps the archive
// simple.
func Write(w io.Writer, t *fstree.Tree, mtime time.Time) error {
	bw := bufio.NewWriter(w)
	ino := uint32(0)
	err := t.Walk(func(p string, n *fstree.Node) error {
		if p == "/" {
			return nil
		}
		ino++
		var data []byte
		mode := fstree.UnixPerm(n.Mode)
		nlink := uint32(1)
		switch {
		case n.IsDir():
			mode |= 0o040000
			nlink = 2
		case n.Mode&fs.ModeSymlink != 0:
			mode |= 0o120000
			data = []byte(n.Target)
		case n.Mode&fs.ModeDevice != 0 && n.Mode&fs.ModeCharDevice != 0:
			mode |= 0o020000
		case n.Mode&fs.ModeDevice != 0:
			mode |= 0o060000
		case n.Mode&fs.ModeNamedPipe != 0:
			mode |= 0o010000
		case n.Mode.IsRegular():
			mode |= 0o100000
			data = n.Data
		default:
			return fmt.Errorf("%s: unsupported file type %v", p, n.Mode.Type())
		}
		return entry(bw, strings.TrimPrefix(p, "/"), ino, mode, n.UID, n.GID, nlink, uint32(mtime.Unix()), n.Major, n.Minor, data)
	})
	if err != nil {
		return err
	}
	if err := entry(bw, "TRAILER!!!", 0, 0, 0, 0, 1, 0, 0, 0, nil); err != nil {
		return err
	}
	return bw.Flush()
}

func entry(w *bufio.Writer, name string, ino, mode, uid, gid, nlink, mtime, rmaj, rmin uint32, data []byte) error {
	_, err := fmt.Fprintf(w, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, mode, uid, gid, nlink, mtime, len(data), 0, 0, rmaj, rmin, len(name)+1, 0)
	if err != nil {
		return err
	}
	w.WriteString(name)
	w.WriteByte(0)
	pad(w, 110+len(name)+1)
	w.Write(data)
	pad(w, len(data))
	return nil
}

func pad(w *bufio.Writer, n int) {
	for n%4 != 0 {
		w.WriteByte(0)
		n++
	}
}
