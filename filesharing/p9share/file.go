package p9share

import (
	"io"
	"os"
	"sync"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"
)

// file is one node of the share as the guest holds it (a fid).
type file struct {
	s *Share
	t *tree
	// rel is the node's path from the share's root, "." for the root: names
	// that each passed CheckName, joined by "/", only ever resolved
	// through t.root.
	rel string
	// dir: the node was a directory when walked to. Only a directory is
	// walked from or changed in; 9P resolves no symlink on the server.
	dir bool
	// h is the one handle an opened file holds, from Open or Create until
	// Close; nil before.
	h        *os.File
	writable bool
	// names is the listing Readdir serves offsets from.
	dirMu sync.Mutex
	names []string
}

var _ p9.File = (*file)(nil)

func (f *file) child(name string) string { return join(f.rel, name) }

// join puts a checked name under rel. No cleaning is needed or done: a
// checked name holds no separator and is neither "." nor "..".
func join(rel, name string) string {
	if rel == "." {
		return name
	}
	return rel + "/" + name
}

// Walk implements p9.File.Walk: each name is checked, then looked at
// without following a symlink; a walk goes on only through directories.
func (f *file) Walk(names []string) ([]p9.QID, p9.File, error) {
	qids, rel, dir, _, err := f.walk(names, false)
	if err != nil {
		return nil, nil, err
	}
	return qids, f.s.newFile(f.t, rel, dir), nil
}

// WalkGetAttr implements p9.File.WalkGetAttr from the walk's own stat.
func (f *file) WalkGetAttr(names []string) ([]p9.QID, p9.File, p9.AttrMask, p9.Attr, error) {
	qids, rel, dir, in, err := f.walk(names, true)
	if err != nil {
		return nil, nil, p9.AttrMask{}, p9.Attr{}, err
	}
	mask, a := attr(in)
	return qids, f.s.newFile(f.t, rel, dir), mask, a, nil
}

func (f *file) walk(names []string, stat bool) (qids []p9.QID, rel string, dir bool, last info, err error) {
	rel, dir = f.rel, f.dir
	if len(names) == 0 && stat {
		if last, err = lstatAt(f.t.root, rel); err != nil {
			return nil, "", false, info{}, f.s.fail("walk", rel, err)
		}
	}
	for _, name := range names {
		if err := CheckName(name); err != nil {
			return nil, "", false, info{}, f.s.fail("walk", name, err)
		}
		if !dir {
			return nil, "", false, info{}, f.s.fail("walk", name, linux.ENOTDIR)
		}
		next := join(rel, name)
		in, err := lstatAt(f.t.root, next)
		if err != nil {
			return nil, "", false, info{}, f.s.fail("walk", next, err)
		}
		qids = append(qids, f.t.qid(in))
		rel, dir, last = next, in.mode.IsDir(), in
	}
	return qids, rel, dir, last, nil
}

// stat is the node's attributes, from its handle once open.
func (f *file) stat() (info, error) {
	if f.h != nil {
		return statOpen(f.h)
	}
	return lstatAt(f.t.root, f.rel)
}

// GetAttr implements p9.File.GetAttr.
func (f *file) GetAttr(p9.AttrMask) (p9.QID, p9.AttrMask, p9.Attr, error) {
	in, err := f.stat()
	if err != nil {
		return p9.QID{}, p9.AttrMask{}, p9.Attr{}, f.s.fail("getattr", f.rel, err)
	}
	mask, a := attr(in)
	return f.t.qid(in), mask, a, nil
}

// Linux's open(2) flags, which 9P2000.L's open and create carry.
const (
	oTrunc     = 0o1000
	oDirectory = 0o200000
	oSync      = 0o4010000
)

// Open implements p9.File.Open. It opens only regular files and
// directories, never through a symlink (the guest resolves symlinks
// itself), and a read-only share only for reading.
func (f *file) Open(mode p9.OpenFlags) (p9.QID, uint32, error) {
	if f.h != nil {
		return p9.QID{}, 0, f.s.fail("open", f.rel, linux.EBUSY)
	}
	write := mode.Mode() != p9.ReadOnly
	if f.s.readOnly && (write || mode&oTrunc != 0) {
		return p9.QID{}, 0, f.s.fail("open", f.rel, linux.EROFS)
	}
	in, err := lstatAt(f.t.root, f.rel)
	if err != nil {
		return p9.QID{}, 0, f.s.fail("open", f.rel, err)
	}
	switch {
	case in.mode&os.ModeSymlink != 0:
		return p9.QID{}, 0, f.s.fail("open", f.rel, linux.ELOOP)
	case in.mode.IsDir() && write:
		return p9.QID{}, 0, f.s.fail("open", f.rel, linux.EISDIR)
	case !in.mode.IsDir() && mode&oDirectory != 0:
		return p9.QID{}, 0, f.s.fail("open", f.rel, linux.ENOTDIR)
	case !in.mode.IsDir() && !in.mode.IsRegular():
		// A FIFO or device on a Unix host would block or act on the host.
		return p9.QID{}, 0, f.s.fail("open", f.rel, linux.ENXIO)
	}
	h, err := f.t.root.OpenFile(f.rel, osFlags(mode), 0)
	if err != nil {
		return p9.QID{}, 0, f.s.fail("open", f.rel, err)
	}
	// os.Root follows a symlink that stays in the share: if the entry
	// became one since the stat, this is another file than the guest
	// walked to.
	opened, err := statOpen(h)
	if err == nil && (opened.dev != in.dev || opened.ino != in.ino) {
		err = linux.ELOOP
	}
	if err != nil {
		h.Close()
		return p9.QID{}, 0, f.s.fail("open", f.rel, err)
	}
	f.h, f.writable = h, write
	return f.t.qid(opened), 0, nil
}

// osFlags turns the guest's open flags into os.OpenFile's. O_APPEND is
// left out: the guest's kernel puts each append at the end itself and
// sends its offset, and Go refuses WriteAt on an O_APPEND file.
func osFlags(mode p9.OpenFlags) int {
	var flag int
	switch mode.Mode() {
	case p9.WriteOnly:
		flag = os.O_WRONLY
	case p9.ReadWrite:
		flag = os.O_RDWR
	default:
		flag = os.O_RDONLY
	}
	if mode&oTrunc != 0 {
		flag |= os.O_TRUNC
	}
	if mode&oSync == oSync {
		flag |= os.O_SYNC
	}
	return flag
}

// ReadAt implements p9.File.ReadAt.
func (f *file) ReadAt(p []byte, offset int64) (int, error) {
	if f.h == nil {
		return 0, f.s.fail("read", f.rel, linux.EBADF)
	}
	n, err := f.h.ReadAt(p, offset)
	if err != nil && err != io.EOF {
		return n, f.s.fail("read", f.rel, err)
	}
	return n, err
}

// WriteAt implements p9.File.WriteAt.
func (f *file) WriteAt(p []byte, offset int64) (int, error) {
	if f.s.readOnly {
		return 0, f.s.fail("write", f.rel, linux.EROFS)
	}
	if f.h == nil || !f.writable {
		return 0, f.s.fail("write", f.rel, linux.EBADF)
	}
	n, err := f.h.WriteAt(p, offset)
	if err != nil {
		return n, f.s.fail("write", f.rel, err)
	}
	return n, nil
}

// FSync implements p9.File.FSync. A file open for reading has nothing of
// the guest's to flush (and Windows refuses to flush such a handle).
func (f *file) FSync() error {
	if f.h == nil || !f.writable {
		return nil
	}
	if err := f.h.Sync(); err != nil {
		return f.s.fail("fsync", f.rel, err)
	}
	return nil
}

// Close implements p9.File.Close: the handle, then the file's hold on the
// share.
func (f *file) Close() error {
	var err error
	if f.h != nil {
		err = f.h.Close()
		f.h = nil
	}
	if f.t != nil {
		f.t = nil
		f.s.release()
	}
	return err
}

// Renamed implements p9.File.Renamed: the server tells each node under a
// renamed one.
func (f *file) Renamed(newDir p9.File, newName string) {
	if d, ok := newDir.(*file); ok {
		f.rel = d.child(newName)
	}
}

// Readlink implements p9.File.Readlink: the link's text, whatever it
// points at.
func (f *file) Readlink() (string, error) {
	target, err := f.t.root.Readlink(f.rel)
	if err != nil {
		return "", f.s.fail("readlink", f.rel, err)
	}
	return target, nil
}

// Lock implements p9.File.Lock. The guest's kernel takes the lock among
// its own processes before asking; the host has no other 9P client to
// keep out, so the server grants it.
func (f *file) Lock(int, p9.LockType, p9.LockFlags, uint64, uint64, string) (p9.LockStatus, error) {
	return p9.LockStatusOK, nil
}

// StatFS implements p9.File.StatFS for the folder's file system.
func (f *file) StatFS() (p9.FSStat, error) {
	st, err := statFS(f.s.path, f.t.root)
	if err != nil {
		return p9.FSStat{}, f.s.fail("statfs", f.rel, err)
	}
	return st, nil
}

// Extended attributes are not served: Windows has none that mean the same.
func (f *file) GetXattr(string) ([]byte, error) { return nil, linux.EOPNOTSUPP }
func (f *file) ListXattrs() ([]string, error)   { return nil, linux.EOPNOTSUPP }
func (f *file) SetXattr(name string, _ []byte, _ p9.XattrFlags) error {
	return f.refuseChange("setxattr", name, linux.EOPNOTSUPP)
}
func (f *file) RemoveXattr(name string) error {
	return f.refuseChange("removexattr", name, linux.EOPNOTSUPP)
}

// refuseChange refuses a change: EROFS in a read-only share, else err.
func (f *file) refuseChange(op, name string, err error) error {
	if f.s.readOnly {
		err = linux.EROFS
	}
	return f.s.fail(op, name, err)
}
