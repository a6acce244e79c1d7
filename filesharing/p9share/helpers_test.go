package p9share

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/hugelgupf/p9/p9"
)

// serve runs the server for a on one end of a pipe and attaches a real
// 9P2000.L client on the other, as the guest's kernel would.
func serve(t testing.TB, a p9.Attacher) p9.File {
	t.Helper()
	srvConn, cliConn := net.Pipe()
	done := make(chan struct{})
	go func() {
		p9.NewServer(a).Handle(srvConn, srvConn)
		close(done)
	}()
	c, err := p9.NewClient(cliConn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	root, err := c.Attach("/")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// layout makes a parent folder holding the share, a secret file and a
// sibling folder beside it: what must stay out of the guest's reach.
func layout(t testing.TB) (parent, share string) {
	t.Helper()
	parent = t.TempDir()
	share = filepath.Join(parent, "share")
	for _, d := range []string{share, filepath.Join(parent, "sibling")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(parent, "secret"), "top secret")
	write(t, filepath.Join(parent, "sibling", "x"), "sibling's")
	return parent, share
}

func write(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// outside is everything under parent but the share: name, type, mode,
// size, times and a hash of the content, so that any change shows.
func outside(t testing.TB, parent string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := filepath.WalkDir(parent, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(parent, p)
		if rel == "share" {
			return filepath.SkipDir
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		entry := fmt.Sprintf("%v %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			entry += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		snap[rel] = entry
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func sameSnapshot(t testing.TB, before, after map[string]string) {
	t.Helper()
	if len(before) != len(after) {
		t.Fatalf("outside the share: %d entries, was %d: %v", len(after), len(before), after)
	}
	for k, v := range before {
		if after[k] != v {
			t.Fatalf("outside the share, %s changed: %q, was %q", k, after[k], v)
		}
	}
}
