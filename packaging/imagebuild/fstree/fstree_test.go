package fstree

import (
	"io/fs"
	"strings"
	"testing"
)

func TestTree(t *testing.T) {
	tr := New()
	tr.MkdirAll("/usr/lib/x86_64-linux-gnu", 0o755)
	tr.Symlink("usr/lib", "/lib")
	if err := tr.WriteFile("/lib/x86_64-linux-gnu/libc.so.6", []byte("c"), 0o644); err != nil {
		t.Fatal(err)
	}
	if tr.Get("/usr/lib/x86_64-linux-gnu/libc.so.6") == nil {
		t.Fatal("write through the /lib symlink did not land in /usr/lib")
	}
	tr.WriteFile("/usr/share/doc/a/copyright", nil, 0o644)
	tr.WriteFile("/usr/share/doc/b/changelog.gz", nil, 0o644)
	tr.WriteFile("/usr/share/ca-certificates/mozilla/A.crt", nil, 0o644)
	if got := strings.Join(tr.Glob("/usr/share/doc/*/*"), " "); got != "/usr/share/doc/a/copyright /usr/share/doc/b/changelog.gz" {
		t.Errorf("glob: %s", got)
	}
	if got := strings.Join(tr.Glob("/usr/share/**/*.crt"), " "); got != "/usr/share/ca-certificates/mozilla/A.crt" {
		t.Errorf("glob **: %s", got)
	}
	tr.Remove("/usr/share/doc")
	if tr.Get("/usr/share/doc/a") != nil {
		t.Error("remove left contents")
	}
	var paths []string
	tr.Walk(func(p string, n *Node) error {
		paths = append(paths, p)
		if p == "/usr/lib" {
			return fs.SkipDir
		}
		return nil
	})
	if got := strings.Join(paths, " "); got != "/ /lib /usr /usr/lib /usr/share /usr/share/ca-certificates /usr/share/ca-certificates/mozilla /usr/share/ca-certificates/mozilla/A.crt" {
		t.Errorf("walk: %s", got)
	}
	if err := tr.WriteFile("/usr/share/ca-certificates/mozilla/A.crt/x", nil, 0o644); err == nil {
		t.Error("file under a file accepted")
	}
}
