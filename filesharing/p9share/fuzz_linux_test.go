package p9share

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hugelgupf/p9/p9"
)

// couldEscapeOnWindows is the fuzzer's own judge, written apart from
// CheckName: whether a Windows host could read name as anything but one
// entry of the folder it is sent in — a parent or the folder itself after
// Win32 strips trailing dots and spaces, a path with separators, a drive,
// a stream, a device.
func couldEscapeOnWindows(name string) bool {
	if strings.ContainsAny(name, `/\:`) || strings.ContainsRune(name, 0) {
		return true
	}
	switch strings.TrimRight(name, ". ") {
	case "", ".", "..":
		return true
	}
	stem := strings.ToUpper(strings.TrimRight(strings.SplitN(name, ".", 2)[0], " "))
	for _, dev := range []string{"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} {
		if stem == dev {
			return true
		}
	}
	if len(stem) > 3 && (stem[:3] == "COM" || stem[:3] == "LPT") {
		n := stem[3:]
		return len(n) == 1 && n[0] >= '0' && n[0] <= '9' || n == "¹" || n == "²" || n == "³"
	}
	return false
}

// FuzzWalk drives the server's File API (past p9's own name check) with
// walks, creates, renames, links, symlinks, opens, reads, writes, setattrs,
// unlinks and readdirs on names the fuzzer picks, in a share that holds
// symlinks pointing out of it, beside a secret file and a sibling folder.
// It fails if the server accepted a name the judge says could escape on
// Windows, or if anything outside the share was opened or changed.
func FuzzWalk(f *testing.F) {
	for _, seed := range []struct {
		script  []byte
		a, b, c string
	}{
		{[]byte{0, 0, 0, 2, 0, 1, 8, 1, 2}, "..", `..\secret`, "x"},
		{[]byte{3, 0, 0, 0, 0, 0, 2, 1, 1, 6, 2, 2}, "d", "f", `..\..\f`},
		{[]byte{4, 0, 3, 0, 0, 1, 8, 1, 0, 9, 1, 5}, "../secret", "l", "l"},
		{[]byte{0, 0, 8, 8, 1, 0, 0, 0, 9, 10, 1, 0}, "CON", "nul.txt", "x:y"},
		{[]byte{6, 0, 6, 7, 0, 7, 5, 0, 2, 11, 1, 0}, "x.", "x ", "C:x"},
		{[]byte{0, 0, 10, 0, 1, 1, 8, 2, 2, 12, 2, 1}, "dir", "inside.txt", "sib"},
	} {
		f.Add(seed.script, seed.a, seed.b, seed.c)
	}
	parent, share := layout(f)
	before := outside(f, parent)
	watch := watchOutside(f, parent)
	s := New(share, false, quiet())

	f.Fuzz(func(t *testing.T, script []byte, a, b, c string) {
		resetShare(t, share)
		watch.events() // the reset's own

		fixed := []string{a, b, c, "inside.txt", "dir", "up", "leak", "sib", "new", a + "/" + b, `..\` + b, b + ":" + c}
		root, err := s.Attach()
		if err != nil {
			t.Fatal(err)
		}
		files := []p9.File{root}
		defer func() {
			for _, f := range files {
				f.Close()
			}
		}()
		pick := func(i byte) p9.File { return files[int(i)%len(files)] }
		name := func(i byte) string { return fixed[int(i)%len(fixed)] }
		keep := func(f p9.File) {
			if len(files) < 16 {
				files = append(files, f)
			} else {
				f.Close()
			}
		}
		accepted := func(op string, err error, names ...string) {
			if err != nil {
				return
			}
			for _, n := range names {
				if couldEscapeOnWindows(n) {
					t.Fatalf("%s took %q, which could escape on Windows", op, n)
				}
			}
		}
		buf := make([]byte, 256)

		if len(script) > 3*64 {
			script = script[:3*64]
		}
		for ; len(script) >= 3; script = script[3:] {
			op, x, y := script[0], script[1], script[2]
			from := pick(x)
			switch op % 13 {
			case 0:
				names := []string{name(y)}
				if y&0x80 != 0 {
					names = append(names, name(y>>3))
				}
				_, nf, err := from.Walk(names)
				accepted("walk", err, names...)
				if err == nil {
					keep(nf)
				}
			case 1:
				_, nf, _, _, err := from.WalkGetAttr([]string{name(y)})
				accepted("walkgetattr", err, name(y))
				if err == nil {
					keep(nf)
				}
			case 2:
				nf, _, _, err := from.Create(name(y), p9.OpenFlags(y%3), 0o644, 0, 0)
				accepted("create", err, name(y))
				if err == nil {
					nf.WriteAt([]byte(a), 0)
					keep(nf)
				}
			case 3:
				_, err := from.Mkdir(name(y), 0o755, 0, 0)
				accepted("mkdir", err, name(y))
			case 4:
				_, err := from.Symlink(name(y>>4), name(y), 0, 0)
				accepted("symlink", err, name(y))
			case 5:
				err := root.Link(from, name(y))
				accepted("link", err, name(y))
			case 6:
				err := from.RenameAt(name(y), pick(y>>4), name(y>>2))
				accepted("renameat", err, name(y), name(y>>2))
			case 7:
				err := from.UnlinkAt(name(y), uint32(y&1)*atRemoveDir)
				accepted("unlinkat", err, name(y))
			case 8:
				if _, _, err := from.Open(p9.OpenFlags(y%3) | p9.OpenFlags(y&0x80)<<2); err == nil { // 0x80<<2 is O_TRUNC
					from.ReadAt(buf, int64(y))
					from.WriteAt([]byte(b), int64(y))
					from.Readdir(0, uint32(y)*8)
				}
			case 9:
				from.SetAttr(p9.SetAttrMask{Permissions: y&1 != 0, Size: y&2 != 0, MTime: y&4 != 0, ATime: y&8 != 0},
					p9.SetAttr{Permissions: p9.FileMode(y) | 0o700, Size: uint64(y) * 16})
			case 10:
				from.Readlink()
			case 11:
				from.GetAttr(p9.AttrMaskAll)
				from.StatFS()
			case 12:
				if i := int(x) % len(files); i > 0 {
					files[i].Close()
					files = append(files[:i], files[i+1:]...)
				}
			}
		}
		watch.none(t)
		sameSnapshot(t, before, outside(t, parent))
	})
}

// resetShare empties the share and puts back what each run starts from: a
// file, a folder, and links that point out of the share.
func resetShare(t *testing.T, share string) {
	t.Helper()
	filepath.WalkDir(share, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755) // a run may have taken its own write bits away
		}
		return nil
	})
	// Its entries only: the share folder itself stays, so that the parent
	// folder, which the run compares, is not touched by the reset.
	entries, err := os.ReadDir(share)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(share, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(share, "inside.txt"), "inside")
	if err := os.Mkdir(filepath.Join(share, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"up": "..", "leak": "../secret", "sib": "../sibling"} {
		if err := os.Symlink(target, filepath.Join(share, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// The judge agrees with CheckName on the names a guest would try.
func TestFuzzJudge(t *testing.T) {
	for _, n := range escapeNames {
		if !couldEscapeOnWindows(n) && CheckName(n) == nil {
			t.Errorf("%q: neither judge nor check minds it", n)
		}
	}
	for _, n := range []string{"a", "x.txt", ".git", "CONSOLE", "COM10"} {
		if couldEscapeOnWindows(n) {
			t.Errorf("the judge minds %q", n)
		}
	}
}
