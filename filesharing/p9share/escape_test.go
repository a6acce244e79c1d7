package p9share

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"
)

// Names a guest could send to get out of the share on a Windows host (or
// any): each must be refused by every operation that takes a name.
var escapeNames = []string{
	"", ".", "..", "../x", "../secret", `..\..\x`, `..\secret`, `..\sibling\x`, `a\b`,
	"C:x", `C:\Windows\win.ini`, "x:stream", "inside.txt:stream", "inside.txt::$DATA",
	"CON", "con", "nul.txt", "NUL", "COM1", "lpt1.log", "CONIN$", "CON .x",
	"x.", "x ", "inside.txt.", "inside.txt ", "...",
	"/", "/etc", "/etc/passwd", `\\?\C:\x`, `\\.\PhysicalDrive0`,
	"a\x00b", "a\nb", "a*", "a?",
}

// escapeLayout is layout with a file inside the share and symlinks that
// point out of it, as a guest (or the user) could have made them.
func escapeLayout(t *testing.T) (parent, share string, links bool) {
	parent, share = layout(t)
	write(t, filepath.Join(share, "inside.txt"), "inside")
	links = true
	for name, target := range map[string]string{
		"etc": "/etc", "up": "..", "leak": "../secret", "sib": "../sibling", "abs": filepath.Join(parent, "secret"),
	} {
		if err := os.Symlink(target, filepath.Join(share, name)); err != nil {
			t.Logf("no symlinks here (%v): their cases are skipped", err)
			links = false
			break
		}
	}
	return parent, share, links
}

// Through a real 9P client: every escape attempt is refused, and nothing
// outside the share changes or is opened.
func TestEscapesOverNinePRefused(t *testing.T) {
	parent, share, links := escapeLayout(t)
	before := outside(t, parent)
	watch := watchOutside(t, parent)
	root := serve(t, New(share, false, quiet()))
	_, inside := walk(t, root, "inside.txt")

	for _, name := range escapeNames {
		if _, f, err := root.Walk([]string{name}); err == nil {
			f.Close()
			t.Errorf("walk %q was taken", name)
		}
		if _, f, err := root.Walk([]string{name, "secret"}); err == nil {
			f.Close()
			t.Errorf("walk %q/secret was taken", name)
		}
		_, nf := walk(t, root)
		if _, _, _, err := nf.Create(name, p9.ReadWrite, 0o644, 0, 0); err == nil {
			t.Errorf("create %q was taken", name)
		}
		if _, err := root.Mkdir(name, 0o755, 0, 0); err == nil {
			t.Errorf("mkdir %q was taken", name)
		}
		if _, err := root.Symlink("inside.txt", name, 0, 0); err == nil {
			t.Errorf("symlink %q was taken", name)
		}
		if err := root.Link(inside, name); err == nil {
			t.Errorf("link %q was taken", name)
		}
		if err := root.RenameAt("inside.txt", root, name); err == nil {
			t.Errorf("rename to %q was taken", name)
		}
		if err := root.RenameAt(name, root, "moved"); err == nil {
			t.Errorf("rename of %q was taken", name)
		}
		if err := root.UnlinkAt(name, 0); err == nil {
			t.Errorf("unlink %q was taken", name)
		}
		if err := root.UnlinkAt(name, atRemoveDir); err == nil {
			t.Errorf("rmdir %q was taken", name)
		}
		if _, err := root.Mknod(name, p9.ModeRegular|0o644, 0, 0, 0, 0); err == nil {
			t.Errorf("mknod %q was taken", name)
		}
	}
	// A name Windows reads otherwise is EINVAL, whichever check met it.
	for _, name := range []string{`..\..\x`, "C:x", "x:stream", "CON", "nul.txt", "x.", "x "} {
		_, _, err := root.Walk([]string{name})
		wantErrno(t, "walk "+name, err, linux.EINVAL)
	}

	if links {
		// A walk goes no further than a symlink: the guest resolves links.
		for _, path := range [][]string{{"etc", "passwd"}, {"up", "secret"}, {"sib", "x"}, {"up", "sibling", "x"}} {
			if _, f, err := root.Walk(path); err == nil {
				f.Close()
				t.Errorf("walk %v went through a symlink", path)
			}
		}
		for name, target := range map[string]string{"etc": "/etc", "up": "..", "leak": "../secret"} {
			q, l := walk(t, root, name)
			if got, err := l.Readlink(); got != target || err != nil || q.Type != p9.TypeSymlink {
				t.Errorf("readlink %s: %q %v (QID %v)", name, got, err, q)
			}
		}
		// Opening a link to a file outside opens nothing.
		for _, name := range []string{"leak", "abs"} {
			for _, mode := range []p9.OpenFlags{p9.ReadOnly, p9.ReadWrite, p9.WriteOnly | oTrunc} {
				_, l := walk(t, root, name)
				// p9 refuses to open a symlink's fid (EINVAL) before the
				// server would (ELOOP, TestEscapesThroughFileAPIRefused).
				if _, _, err := l.Open(mode); err == nil {
					t.Errorf("open %s %v was taken", name, mode)
				}
			}
			_, l := walk(t, root, name)
			for what, err := range map[string]error{
				"chmod":    l.SetAttr(p9.SetAttrMask{Permissions: true}, p9.SetAttr{Permissions: 0o777}),
				"truncate": l.SetAttr(p9.SetAttrMask{Size: true}, p9.SetAttr{}),
				"utimes":   l.SetAttr(p9.SetAttrMask{MTime: true}, p9.SetAttr{}),
			} {
				if err == nil {
					t.Errorf("%s through %s was taken", what, name)
				}
			}
		}
		// Creating in a directory through a link: the server does not
		// walk past the link, so there is no directory to create in.
		_, sib := walk(t, root, "sib")
		if _, _, _, err := sib.Create("new", p9.WriteOnly, 0o644, 0, 0); err == nil {
			t.Error("create through a link to the sibling folder was taken")
		}
	}

	watch.none(t)
	sameSnapshot(t, before, outside(t, parent))
}

// The same through the File API itself, past p9's own name check (which
// refuses "/", "." and ".." before a server sees them): the server must
// hold on its own.
func TestEscapesThroughFileAPIRefused(t *testing.T) {
	parent, share, links := escapeLayout(t)
	before := outside(t, parent)
	watch := watchOutside(t, parent)
	s := New(share, false, quiet())
	root, err := s.Attach()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	_, inside, err := root.Walk([]string{"inside.txt"})
	if err != nil {
		t.Fatal(err)
	}
	defer inside.Close()
	for _, name := range escapeNames {
		if _, f, err := root.Walk([]string{name}); err == nil {
			f.Close()
			t.Errorf("walk %q was taken", name)
		} else if !errors.Is(err, linux.EINVAL) {
			t.Errorf("walk %q: %v, want EINVAL", name, err)
		}
		if _, f, _, _, err := root.WalkGetAttr([]string{name}); err == nil {
			f.Close()
			t.Errorf("walkgetattr %q was taken", name)
		}
		if f, _, _, err := root.Create(name, p9.ReadWrite, 0o644, 0, 0); err == nil {
			f.Close()
			t.Errorf("create %q was taken", name)
		}
		if _, err := root.Mkdir(name, 0o755, 0, 0); err == nil {
			t.Errorf("mkdir %q was taken", name)
		}
		if _, err := root.Symlink("x", name, 0, 0); err == nil {
			t.Errorf("symlink %q was taken", name)
		}
		if err := root.Link(inside, name); err == nil {
			t.Errorf("link %q was taken", name)
		}
		if err := root.RenameAt("inside.txt", root, name); err == nil {
			t.Errorf("rename to %q was taken", name)
		}
		if err := root.RenameAt(name, root, "moved"); err == nil {
			t.Errorf("rename of %q was taken", name)
		}
		if err := root.UnlinkAt(name, 0); err == nil {
			t.Errorf("unlink %q was taken", name)
		}
	}
	if links {
		for _, path := range [][]string{{"etc", "passwd"}, {"up", "secret"}, {"sib", "x"}} {
			if _, f, err := root.Walk(path); err == nil {
				f.Close()
				t.Errorf("walk %v went through a symlink", path)
			}
		}
		// The File API lets a caller create "in" a link; os.Root refuses
		// to follow it out.
		_, sib, err := root.Walk([]string{"sib"})
		if err != nil {
			t.Fatal(err)
		}
		defer sib.Close()
		if f, _, _, err := sib.Create("new", p9.WriteOnly, 0o644, 0, 0); err == nil {
			f.Close()
			t.Error("create through a link to the sibling folder was taken")
		}
		if _, err := sib.Mkdir("new", 0o755, 0, 0); err == nil {
			t.Error("mkdir through a link to the sibling folder was taken")
		}
		if err := sib.UnlinkAt("x", 0); err == nil {
			t.Error("unlink through a link to the sibling folder was taken")
		}
		for _, name := range []string{"leak", "abs"} {
			_, l, err := root.Walk([]string{name})
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = l.Open(p9.ReadOnly)
			wantErrno(t, "open "+name, err, linux.ELOOP)
			l.Close()
		}
	}
	watch.none(t)
	sameSnapshot(t, before, outside(t, parent))
}
