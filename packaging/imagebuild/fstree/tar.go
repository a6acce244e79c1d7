package fstree

import (
	"archive/tar"
	"io"
	"io/fs"
	"strings"
	"time"
)

// WriteTar writes the tree as a tar stream, every entry with mtime, hard
// links as links to the first name, for inspecting a build with tar(1).
func (t *Tree) WriteTar(w io.Writer, mtime time.Time) error {
	tw := tar.NewWriter(w)
	first := map[*Node]string{}
	err := t.Walk(func(p string, n *Node) error {
		if p == "/" {
			return nil
		}
		name := strings.TrimPrefix(p, "/")
		h := &tar.Header{Name: name, Mode: int64(UnixPerm(n.Mode)), Uid: int(n.UID), Gid: int(n.GID), ModTime: mtime, Format: tar.FormatPAX}
		for k, v := range n.Xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["SCHILY.xattr."+k] = string(v)
		}
		switch {
		case n.IsDir():
			h.Typeflag, h.Name = tar.TypeDir, name+"/"
		case n.Mode&fs.ModeSymlink != 0:
			h.Typeflag, h.Linkname = tar.TypeSymlink, n.Target
		case n.Mode&fs.ModeNamedPipe != 0:
			h.Typeflag = tar.TypeFifo
		case n.Mode&fs.ModeDevice != 0:
			h.Typeflag = tar.TypeBlock
			if n.Mode&fs.ModeCharDevice != 0 {
				h.Typeflag = tar.TypeChar
			}
			h.Devmajor, h.Devminor = int64(n.Major), int64(n.Minor)
		default:
			if f, ok := first[n]; ok {
				h.Typeflag, h.Linkname = tar.TypeLink, f
				break
			}
			first[n] = name
			h.Typeflag, h.Size = tar.TypeReg, int64(len(n.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			_, err := tw.Write(n.Data)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
