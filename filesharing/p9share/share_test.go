package p9share

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"
)

func walk(t *testing.T, from p9.File, names ...string) (p9.QID, p9.File) {
	t.Helper()
	qids, f, err := from.Walk(names)
	if err != nil {
		t.Fatalf("walk %v: %v", names, err)
	}
	t.Cleanup(func() { f.Close() })
	if len(qids) == 0 {
		return p9.QID{}, f
	}
	return qids[len(qids)-1], f
}

func wantErrno(t *testing.T, what string, err error, want linux.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: %v, want %v", what, err, want)
	}
}

// What a Linux guest does to a share, through a real 9P client: every
// operation works and lands in the host's folder as asked.
func TestOperations(t *testing.T) {
	_, dir := layout(t)
	root := serve(t, New(dir, false, quiet()))

	// mkdir with the guest's mode, whatever the host's umask.
	q, err := root.Mkdir("d", 0o775, 0, 0)
	if err != nil || q.Type != p9.TypeDir || q.Path == 0 {
		t.Fatalf("mkdir: %v %v", q, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "d")); err != nil || !fi.IsDir() || runtime.GOOS != "windows" && fi.Mode().Perm() != 0o775 {
		t.Fatalf("the host's d: %v %v", fi.Mode(), err)
	}

	// create, write, read back.
	_, d := walk(t, root, "d")
	_, nf := walk(t, root, "d")
	f, q, _, err := nf.Create("f.txt", p9.ReadWrite, 0o640, 0, 0)
	if err != nil || q.Type != p9.TypeRegular {
		t.Fatalf("create: %v %v", q, err)
	}
	if n, err := f.WriteAt([]byte("hello, host"), 0); n != 11 || err != nil {
		t.Fatalf("write: %d %v", n, err)
	}
	buf := make([]byte, 64)
	if n, err := f.ReadAt(buf, 7); string(buf[:n]) != "host" || err != nil && err != io.EOF {
		t.Fatalf("read: %q %v", buf[:n], err)
	}
	if err := f.FSync(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "d", "f.txt")); string(got) != "hello, host" {
		t.Fatalf("the host has %q", got)
	}

	// getattr: what stat(2) in the guest shows.
	fq, fa := walk(t, d, "f.txt")
	gq, mask, a, err := fa.GetAttr(p9.AttrMaskAll)
	if err != nil || gq != fq || !mask.Mode || !mask.Size || !mask.NLink || !mask.Blocks || !mask.MTime {
		t.Fatalf("getattr: %v %v %v", gq, mask, err)
	}
	if a.Size != 11 || !a.Mode.IsRegular() || a.NLink != 1 || runtime.GOOS != "windows" && (a.Mode.Permissions() != 0o640 || a.UID != p9.UID(os.Getuid())) {
		t.Fatalf("getattr: %v", a)
	}
	if time.Since(time.Unix(int64(a.MTimeSeconds), 0)) > time.Minute {
		t.Fatalf("mtime %v", a)
	}

	// setattr: chmod, truncate, times.
	when := time.Date(2001, 2, 3, 4, 5, 6, 7000, time.UTC)
	err = fa.SetAttr(p9.SetAttrMask{Permissions: true, Size: true, ATime: true, MTime: true, ATimeNotSystemTime: true, MTimeNotSystemTime: true, CTime: true},
		p9.SetAttr{Permissions: 0o600, Size: 5, ATimeSeconds: uint64(when.Unix()), ATimeNanoSeconds: 7000, MTimeSeconds: uint64(when.Unix()), MTimeNanoSeconds: 7000})
	if err != nil {
		t.Fatalf("setattr: %v", err)
	}
	fi, _ := os.Stat(filepath.Join(dir, "d", "f.txt"))
	if fi.Size() != 5 || !fi.ModTime().Equal(when) || runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("after setattr the host has %v %d %v", fi.Mode(), fi.Size(), fi.ModTime())
	}
	// mtime "now", as touch sends it.
	if err := fa.SetAttr(p9.SetAttrMask{MTime: true}, p9.SetAttr{}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "d", "f.txt")); time.Since(fi.ModTime()) > time.Minute {
		t.Fatalf("touch left mtime at %v", fi.ModTime())
	}
	if q2, _, _, _ := fa.GetAttr(p9.AttrMaskAll); q2.Path != fq.Path {
		t.Fatalf("the QID's path changed with setattr: %v, was %v", q2, fq)
	}

	// rename across directories keeps the file's QID path.
	if err := d.RenameAt("f.txt", root, "g.txt"); err != nil {
		t.Fatalf("renameat: %v", err)
	}
	gq1, g := walk(t, root, "g.txt")
	gq2, _ := walk(t, root, "g.txt")
	if gq1 != gq2 || gq1.Path != fq.Path {
		t.Fatalf("QIDs %v, %v, before the rename %v", gq1, gq2, fq)
	}

	// link: one file, two names, one QID path.
	if err := root.Link(g, "hard"); err != nil {
		t.Fatalf("link: %v", err)
	}
	hq, h := walk(t, root, "hard")
	if hq.Path != gq1.Path {
		t.Fatalf("hard link's QID %v, file's %v", hq, gq1)
	}
	if _, _, a, _ := h.GetAttr(p9.AttrMaskAll); a.NLink != 2 {
		t.Fatalf("nlink %d", a.NLink)
	}

	// symlink: the text is kept, readlink gives it back.
	if _, err := root.Symlink("g.txt", "sl", 0, 0); err != nil {
		t.Fatalf("symlink: %v", err)
	}
	sq, sl := walk(t, root, "sl")
	if target, err := sl.Readlink(); target != "g.txt" || err != nil || sq.Type != p9.TypeSymlink {
		t.Fatalf("readlink: %q %v %v", target, err, sq)
	}

	// readdir: every entry once, ".", ".." first, offsets that page.
	_, ld := walk(t, root)
	if _, _, err := ld.Open(p9.ReadOnly); err != nil {
		t.Fatal(err)
	}
	all, err := ld.Readdir(0, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".", "..", "d", "g.txt", "hard", "sl"}
	if got := names(all); !slices.Equal(got, want) {
		t.Fatalf("readdir %v, want %v", got, want)
	}
	for i, e := range all {
		if e.Offset != uint64(i+1) {
			t.Fatalf("offset of %s: %d", e.Name, e.Offset)
		}
		if e.Name == "g.txt" && e.QID != gq1 || e.Name == "sl" && e.QID.Type != p9.TypeSymlink {
			t.Fatalf("dirent %v", e)
		}
	}
	var paged []string
	for off := uint64(0); ; {
		page, err := ld.Readdir(off, 30) // one entry a call
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, names(page)...)
		off = page[len(page)-1].Offset
	}
	if !slices.Equal(paged, want) {
		t.Fatalf("paged readdir %v", paged)
	}

	// statfs.
	if st, err := root.StatFS(); err != nil || st.Type != v9fsMagic || st.NameLength != 255 || st.Blocks == 0 {
		t.Fatalf("statfs: %+v %v", st, err)
	}

	// mknod is not for a shared folder.
	_, err = root.Mknod("fifo", p9.ModeNamedPipe|0o644, 0, 0, 0, 0)
	wantErrno(t, "mknod", err, linux.EPERM)

	// unlink and rmdir, each refusing the other's kind.
	wantErrno(t, "unlink of a directory", root.UnlinkAt("d", 0), linux.EISDIR)
	wantErrno(t, "rmdir of a file", root.UnlinkAt("hard", atRemoveDir), linux.ENOTDIR)
	write(t, filepath.Join(dir, "d", "keep"), "x")
	wantErrno(t, "rmdir of a full directory", root.UnlinkAt("d", atRemoveDir), linux.ENOTEMPTY)
	os.Remove(filepath.Join(dir, "d", "keep"))
	for _, n := range []string{"hard", "sl"} {
		if err := root.UnlinkAt(n, 0); err != nil {
			t.Fatalf("unlink %s: %v", n, err)
		}
	}
	if err := root.UnlinkAt("d", atRemoveDir); err != nil {
		t.Fatalf("rmdir: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "g.txt" {
		t.Fatalf("the host's folder at the end: %v", entries)
	}
}

func names(ds p9.Dirents) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}

// The listing stays as it was read while the guest pages through it:
// entries made or removed meanwhile do not shift the offsets.
func TestReaddirOffsetsAreStable(t *testing.T) {
	_, dir := layout(t)
	for _, n := range []string{"a", "b", "c", "d"} {
		write(t, filepath.Join(dir, n), n)
	}
	root := serve(t, New(dir, false, quiet()))
	_, ld := walk(t, root)
	if _, _, err := ld.Open(p9.ReadOnly); err != nil {
		t.Fatal(err)
	}
	first, err := ld.Readdir(0, 3*30)
	if err != nil || len(first) != 3 {
		t.Fatalf("%v %v", first, err)
	}
	os.Remove(filepath.Join(dir, "a"))
	write(t, filepath.Join(dir, "0"), "new")
	rest, err := ld.Readdir(first[2].Offset, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(rest), ","); got != "b,c,d" {
		t.Fatalf("after offset %d: %s", first[2].Offset, got)
	}
}

// A share whose folder is gone says so at attach, with the folder's path.
func TestAttachMissingFolderNamesIt(t *testing.T) {
	gone := filepath.Join(t.TempDir(), "moved away")
	_, err := New(gone, false, quiet()).Attach()
	if err == nil || !strings.Contains(err.Error(), gone) || linux.ExtractErrno(err) != linux.ENOENT {
		t.Fatalf("attach: %v", err)
	}
}
