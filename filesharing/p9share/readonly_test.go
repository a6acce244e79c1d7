package p9share

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"
)

// A read-only share must hold on the host: the guest mounts it read-only,
// but root in the guest can mount it again read-write, and only the
// server can refuse that. Every change is EROFS and the folder stays as
// it was; reads still work.
func TestReadOnlyShareRefusesEveryChange(t *testing.T) {
	_, dir := layout(t)
	write(t, filepath.Join(dir, "keep.txt"), "host data")
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	before := outside(t, filepath.Dir(dir))
	root := serve(t, New(dir, true, quiet()))
	walkTo := func(name string) p9.File {
		t.Helper()
		_, f := walk(t, root, name)
		return f
	}
	sub := walkTo("sub")
	for what, err := range map[string]error{
		"open for writing": func() error { _, _, err := walkTo("keep.txt").Open(p9.WriteOnly); return err }(),
		"open read-write":  func() error { _, _, err := walkTo("keep.txt").Open(p9.ReadWrite); return err }(),
		"truncate on open": func() error { _, _, err := walkTo("keep.txt").Open(p9.ReadOnly | oTrunc); return err }(),
		"create":           func() error { _, _, _, err := walkTo("sub").Create("new", p9.WriteOnly, 0o644, 0, 0); return err }(),
		"mkdir":            func() error { _, err := root.Mkdir("d", 0o755, 0, 0); return err }(),
		"symlink":          func() error { _, err := root.Symlink("keep.txt", "l", 0, 0); return err }(),
		"mknod":            func() error { _, err := root.Mknod("n", p9.ModeRegular|0o644, 0, 0, 0, 0); return err }(),
		"unlink":           root.UnlinkAt("keep.txt", 0),
		"rmdir":            root.UnlinkAt("sub", atRemoveDir),
		"rename":           root.RenameAt("keep.txt", sub, "moved.txt"),
		"link":             sub.Link(walkTo("keep.txt"), "hard"),
		"chmod":            walkTo("keep.txt").SetAttr(p9.SetAttrMask{Permissions: true}, p9.SetAttr{Permissions: 0o777}),
		"truncate":         walkTo("keep.txt").SetAttr(p9.SetAttrMask{Size: true}, p9.SetAttr{Size: 0}),
		"utimes":           walkTo("keep.txt").SetAttr(p9.SetAttrMask{MTime: true}, p9.SetAttr{}),
	} {
		if !errors.Is(err, linux.EROFS) {
			t.Errorf("%s: %v, want EROFS", what, err)
		}
	}

	f := walkTo("keep.txt")
	if _, _, err := f.Open(p9.ReadOnly); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, _ := f.ReadAt(buf, 0); string(buf[:n]) != "host data" {
		t.Fatalf("read %q", buf[:n])
	}
	_, d := walk(t, root)
	if _, _, err := d.Open(p9.ReadOnly); err != nil {
		t.Fatal(err)
	}
	if ents, err := d.Readdir(0, 1<<16); err != nil || len(ents) != 4 {
		t.Fatalf("readdir %v %v", ents, err)
	}
	entries, _ := os.ReadDir(dir)
	got, _ := os.ReadFile(filepath.Join(dir, "keep.txt"))
	fi, _ := os.Stat(filepath.Join(dir, "keep.txt"))
	if len(entries) != 2 || string(got) != "host data" || fi.Mode().Perm() != 0o644 {
		t.Fatalf("the host's folder changed: %d entries, %q, %v", len(entries), got, fi.Mode())
	}
	sameSnapshot(t, before, outside(t, filepath.Dir(dir)))
}
