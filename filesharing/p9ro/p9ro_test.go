package p9ro

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/hugelgupf/p9/fsimpl/localfs"
	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"
)

// A guest's 9P client against the real server and the host's folder: every
// change is refused and the folder stays as it was, reads still work.
func TestReadOnlyShareRefusesEveryChange(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("host data"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)

	srvConn, cliConn := net.Pipe()
	go p9.NewServer(Attacher(localfs.Attacher(dir))).Handle(srvConn, srvConn)
	c, err := p9.NewClient(cliConn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	root, err := c.Attach("/")
	if err != nil {
		t.Fatal(err)
	}
	walk := func(name string) p9.File {
		t.Helper()
		_, f, err := root.Walk([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	const oTrunc p9.OpenFlags = 0o1000
	sub := walk("sub")
	for what, err := range map[string]error{
		"open for writing": func() error { _, _, err := walk("keep.txt").Open(p9.WriteOnly); return err }(),
		"open read-write":  func() error { _, _, err := walk("keep.txt").Open(p9.ReadWrite); return err }(),
		"truncate on open": func() error { _, _, err := walk("keep.txt").Open(p9.ReadOnly | oTrunc); return err }(),
		"create":           func() error { _, _, _, err := walk("sub").Create("new", p9.WriteOnly, 0o644, 0, 0); return err }(),
		"mkdir":            func() error { _, err := root.Mkdir("d", 0o755, 0, 0); return err }(),
		"symlink":          func() error { _, err := root.Symlink("keep.txt", "l", 0, 0); return err }(),
		"mknod":            func() error { _, err := root.Mknod("n", p9.ModeRegular|0o644, 0, 0, 0, 0); return err }(),
		"unlink":           root.UnlinkAt("keep.txt", 0),
		"rename":           root.RenameAt("keep.txt", sub, "moved.txt"),
		"link":             sub.Link(walk("keep.txt"), "hard"),
		"chmod":            walk("keep.txt").SetAttr(p9.SetAttrMask{Permissions: true}, p9.SetAttr{Permissions: 0o777}),
		"truncate":         walk("keep.txt").SetAttr(p9.SetAttrMask{Size: true}, p9.SetAttr{Size: 0}),
	} {
		if !errors.Is(err, linux.EROFS) {
			t.Errorf("%s: %v, want EROFS", what, err)
		}
	}

	f := walk("keep.txt")
	if _, _, err := f.Open(p9.ReadOnly); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, _ := f.ReadAt(buf, 0); string(buf[:n]) != "host data" {
		t.Fatalf("read %q", buf[:n])
	}
	entries, _ := os.ReadDir(dir)
	got, _ := os.ReadFile(filepath.Join(dir, "keep.txt"))
	fi, _ := os.Stat(filepath.Join(dir, "keep.txt"))
	if len(entries) != 2 || string(got) != "host data" || fi.Mode().Perm() != 0o644 {
		t.Fatalf("the host's folder changed: %d entries, %q, %v", len(entries), got, fi.Mode())
	}
}
