package p9share

import (
	"os"
	"runtime"
	"slices"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"
)

// newName checks what a change in this directory needs: a share that
// takes changes, a name by the rules, and a directory.
func (f *file) newName(op, name string) (string, error) {
	if f.s.readOnly {
		return "", f.s.fail(op, name, linux.EROFS)
	}
	if err := CheckName(name); err != nil {
		return "", f.s.fail(op, name, err)
	}
	if !f.dir {
		return "", f.s.fail(op, name, linux.ENOTDIR)
	}
	return f.child(name), nil
}

// Create implements p9.File.Create: a new regular file, opened.
func (f *file) Create(name string, mode p9.OpenFlags, perm p9.FileMode, _ p9.UID, _ p9.GID) (p9.File, p9.QID, uint32, error) {
	rel, err := f.newName("create", name)
	if err != nil {
		return nil, p9.QID{}, 0, err
	}
	h, err := f.t.root.OpenFile(rel, osFlags(mode)|os.O_CREATE|os.O_EXCL, osPerm(perm).Perm())
	if err != nil {
		return nil, p9.QID{}, 0, f.s.fail("create", rel, err)
	}
	if err := keepMode(h.Chmod, perm); err != nil {
		h.Close()
		return nil, p9.QID{}, 0, f.s.fail("create", rel, err)
	}
	in, err := statOpen(h)
	if err != nil {
		h.Close()
		return nil, p9.QID{}, 0, f.s.fail("create", rel, err)
	}
	nf := f.s.newFile(f.t, rel, false)
	nf.h, nf.writable = h, mode.Mode() != p9.ReadOnly
	return nf, f.t.qid(in), 0, nil
}

// Mkdir implements p9.File.Mkdir.
func (f *file) Mkdir(name string, perm p9.FileMode, _ p9.UID, _ p9.GID) (p9.QID, error) {
	rel, err := f.newName("mkdir", name)
	if err != nil {
		return p9.QID{}, err
	}
	if err := f.t.root.Mkdir(rel, osPerm(perm).Perm()); err != nil {
		return p9.QID{}, f.s.fail("mkdir", rel, err)
	}
	if err := keepMode(func(m os.FileMode) error { return f.t.root.Chmod(rel, m) }, perm); err != nil {
		return p9.QID{}, f.s.fail("mkdir", rel, err)
	}
	return f.qidOf("mkdir", rel)
}

// keepMode gives a new file the mode the guest asked for: the guest has
// applied its umask already, and the host's must not apply again.
// Windows keeps only "read-only", which creating already set.
func keepMode(chmod func(os.FileMode) error, perm p9.FileMode) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	return chmod(osPerm(perm))
}

// osPerm is a 9P permission as os wants it.
func osPerm(perm p9.FileMode) os.FileMode {
	m := os.FileMode(perm & 0o777)
	if perm&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if perm&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if perm&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

func (f *file) qidOf(op, rel string) (p9.QID, error) {
	in, err := lstatAt(f.t.root, rel)
	if err != nil {
		return p9.QID{}, f.s.fail(op, rel, err)
	}
	return f.t.qid(in), nil
}

// Symlink implements p9.File.Symlink. The target is the link's text: it
// may point anywhere, because the server never follows a link out of the
// share (os.Root refuses) and the guest resolves links itself.
func (f *file) Symlink(target, name string, _ p9.UID, _ p9.GID) (p9.QID, error) {
	rel, err := f.newName("symlink", name)
	if err != nil {
		return p9.QID{}, err
	}
	if err := f.t.root.Symlink(target, rel); err != nil {
		if runtime.GOOS == "windows" && errno(err) == linux.EPERM {
			f.s.symlinkWarning.Do(func() {
				f.s.log.Warn("the VM cannot create symlinks in a shared folder: Windows allows them only with Developer Mode on or to administrators",
					"share", f.s.path, "err", err)
			})
		}
		return p9.QID{}, f.s.fail("symlink", rel, err)
	}
	return f.qidOf("symlink", rel)
}

// Link implements p9.File.Link: a hard link to target, a file of the same
// share, in this directory.
func (f *file) Link(target p9.File, name string) error {
	rel, err := f.newName("link", name)
	if err != nil {
		return err
	}
	t, ok := target.(*file)
	if !ok || t.t != f.t {
		return f.s.fail("link", rel, linux.EXDEV)
	}
	if err := f.t.root.Link(t.rel, rel); err != nil {
		return f.s.fail("link", rel, err)
	}
	return nil
}

// Mknod implements p9.File.Mknod: device nodes, FIFOs and sockets are not
// made on the host.
func (f *file) Mknod(name string, _ p9.FileMode, _, _ uint32, _ p9.UID, _ p9.GID) (p9.QID, error) {
	rel, err := f.newName("mknod", name)
	if err != nil {
		return p9.QID{}, err
	}
	return p9.QID{}, f.s.fail("mknod", rel, linux.EPERM)
}

// RenameAt implements p9.File.RenameAt.
func (f *file) RenameAt(oldName string, newDir p9.File, newName string) error {
	from, err := f.newName("rename", oldName)
	if err != nil {
		return err
	}
	d, ok := newDir.(*file)
	if !ok || d.t != f.t {
		return f.s.fail("rename", from, linux.EXDEV)
	}
	to, err := d.newName("rename", newName)
	if err != nil {
		return err
	}
	if err := f.t.root.Rename(from, to); err != nil {
		return f.s.fail("rename", from, err)
	}
	return nil
}

// Rename implements p9.File.Rename (the server uses RenameAt; this is for
// callers of the File API).
func (f *file) Rename(newDir p9.File, newName string) error {
	if f.rel == "." {
		return f.s.fail("rename", newName, linux.EBUSY)
	}
	d, ok := newDir.(*file)
	if !ok || d.t != f.t {
		return f.s.fail("rename", newName, linux.EXDEV)
	}
	to, err := d.newName("rename", newName)
	if err != nil {
		return err
	}
	if err := f.t.root.Rename(f.rel, to); err != nil {
		return f.s.fail("rename", f.rel, err)
	}
	f.rel = to
	return nil
}

// atRemoveDir is Linux's AT_REMOVEDIR: unlinkat removes a directory.
const atRemoveDir = 0x200

// UnlinkAt implements p9.File.UnlinkAt: a file, or with AT_REMOVEDIR an
// empty directory, as unlinkat(2).
func (f *file) UnlinkAt(name string, flags uint32) error {
	rel, err := f.newName("unlink", name)
	if err != nil {
		return err
	}
	in, err := lstatAt(f.t.root, rel)
	if err != nil {
		return f.s.fail("unlink", rel, err)
	}
	switch dir := in.mode.IsDir(); {
	case flags&atRemoveDir != 0 && !dir:
		return f.s.fail("unlink", rel, linux.ENOTDIR)
	case flags&atRemoveDir == 0 && dir:
		return f.s.fail("unlink", rel, linux.EISDIR)
	}
	if err := f.t.root.Remove(rel); err != nil {
		return f.s.fail("unlink", rel, err)
	}
	return nil
}

// direntSize is what a dirent takes in Rreaddir besides its name: QID 13,
// offset 8, type 1, name length 2.
const direntSize = 24

// Readdir implements p9.File.Readdir. The listing is read at offset 0 and
// kept, so that offsets (an entry's index + 1) stay stable while the
// guest reads on; "." and ".." come first, as a Linux server's do. Names
// a Windows host could not hold are left out: the guest could not walk
// to them either.
func (f *file) Readdir(offset uint64, count uint32) (p9.Dirents, error) {
	if f.h == nil {
		return nil, f.s.fail("readdir", f.rel, linux.EBADF)
	}
	f.dirMu.Lock()
	defer f.dirMu.Unlock()
	if offset == 0 || f.names == nil {
		if err := f.list(); err != nil {
			return nil, f.s.fail("readdir", f.rel, err)
		}
	}
	var out p9.Dirents
	used := 0
	for i := offset; i < uint64(len(f.names)); i++ {
		name := f.names[i]
		if used += direntSize + len(name); used > int(count) && len(out) > 0 {
			break
		}
		rel := f.rel
		switch name {
		case ".":
		case "..":
			rel = parent(f.rel)
		default:
			rel = f.child(name)
		}
		in, err := lstatAt(f.t.root, rel)
		if err != nil {
			continue // gone since the listing
		}
		q := f.t.qid(in)
		out = append(out, p9.Dirent{QID: q, Type: q.Type, Offset: i + 1, Name: name})
	}
	return out, nil
}

func (f *file) list() error {
	if _, err := f.h.Seek(0, 0); err != nil {
		return err
	}
	entries, err := f.h.ReadDir(-1)
	if err != nil {
		return err
	}
	names := []string{".", ".."}
	for _, e := range entries {
		if CheckName(e.Name()) == nil {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names[2:])
	f.names = names
	return nil
}

// parent of a path from the root; the root's parent, as ever, is itself.
func parent(rel string) string {
	for i := len(rel) - 1; i >= 0; i-- {
		if rel[i] == '/' {
			return rel[:i]
		}
	}
	return "."
}
