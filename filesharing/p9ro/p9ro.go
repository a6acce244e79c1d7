// Package p9ro serves a 9P file system read-only. A read-only share must
// hold on the host: the guest mounts it read-only, but root in the guest
// can mount it again read-write, and only the server can refuse that.
package p9ro

import (
	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"
)

// oTrunc is Linux's O_TRUNC: 9P2000.L's open flags are the guest's
// open(2) flags, and truncation writes even on a read-only open.
const oTrunc = 0o1000

// Attacher serves what a attaches, refusing every change with EROFS.
func Attacher(a p9.Attacher) p9.Attacher { return attacher{a} }

type attacher struct{ a p9.Attacher }

func (a attacher) Attach() (p9.File, error) {
	f, err := a.a.Attach()
	if err != nil {
		return nil, err
	}
	return file{f}, nil
}

// file passes reads to the file it wraps and refuses writes; the files it
// walks to are read-only too.
type file struct{ p9.File }

func (f file) Walk(names []string) ([]p9.QID, p9.File, error) {
	qids, nf, err := f.File.Walk(names)
	if err != nil {
		return qids, nil, err
	}
	return qids, file{nf}, nil
}

func (f file) WalkGetAttr(names []string) ([]p9.QID, p9.File, p9.AttrMask, p9.Attr, error) {
	qids, nf, mask, attr, err := f.File.WalkGetAttr(names)
	if err != nil {
		return qids, nil, mask, attr, err
	}
	return qids, file{nf}, mask, attr, nil
}

// Open opens for reading only, and never truncates.
func (f file) Open(mode p9.OpenFlags) (p9.QID, uint32, error) {
	if mode.Mode() != p9.ReadOnly || mode&oTrunc != 0 {
		return p9.QID{}, 0, linux.EROFS
	}
	return f.File.Open(p9.ReadOnly)
}

func (file) WriteAt([]byte, int64) (int, error)           { return 0, linux.EROFS }
func (file) SetAttr(p9.SetAttrMask, p9.SetAttr) error     { return linux.EROFS }
func (file) SetXattr(string, []byte, p9.XattrFlags) error { return linux.EROFS }
func (file) RemoveXattr(string) error                     { return linux.EROFS }
func (file) Link(p9.File, string) error                   { return linux.EROFS }
func (file) Rename(p9.File, string) error                 { return linux.EROFS }
func (file) RenameAt(string, p9.File, string) error       { return linux.EROFS }
func (file) UnlinkAt(string, uint32) error                { return linux.EROFS }
func (file) Mkdir(string, p9.FileMode, p9.UID, p9.GID) (p9.QID, error) {
	return p9.QID{}, linux.EROFS
}
func (file) Symlink(string, string, p9.UID, p9.GID) (p9.QID, error) {
	return p9.QID{}, linux.EROFS
}
func (file) Mknod(string, p9.FileMode, uint32, uint32, p9.UID, p9.GID) (p9.QID, error) {
	return p9.QID{}, linux.EROFS
}
func (file) Create(string, p9.OpenFlags, p9.FileMode, p9.UID, p9.GID) (p9.File, p9.QID, uint32, error) {
	return nil, p9.QID{}, 0, linux.EROFS
}
