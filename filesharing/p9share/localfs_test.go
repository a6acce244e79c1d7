package p9share

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hugelgupf/p9/fsimpl/localfs"
	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"
)

// Before and after: the server Berth used, hugelgupf/p9's localfs, takes
// the backslash name a guest sends and joins it onto the host's path
// (on Linux a file literally named `..\..\x` appears in the share; on a
// Windows host the same join is the share's grandparent's x); its File
// API, with no check of its own, reads the secret beside the share. The
// new server refuses both.
func TestBackslashEscapeLocalfsTakesP9shareRefuses(t *testing.T) {
	const name = `..\..\x`
	for _, tc := range []struct {
		server string
		a      func(dir string) p9.Attacher
		takes  bool
	}{
		{"localfs", func(dir string) p9.Attacher { return localfs.Attacher(dir) }, true},
		{"p9share", func(dir string) p9.Attacher { return New(dir, false, quiet()) }, false},
	} {
		t.Run(tc.server, func(t *testing.T) {
			parent, share := layout(t)
			root := serve(t, tc.a(share))
			f, _, _, err := root.Create(name, p9.ReadWrite, 0o644, 0, 0)
			took := err == nil
			if took {
				f.Close()
			}
			_, statErr := os.Lstat(filepath.Join(share, name))
			if took != tc.takes || took != (statErr == nil) {
				t.Fatalf("create %q over 9P: %v (on the host: %v); want taken: %v", name, err, statErr, tc.takes)
			}
			if !tc.takes && !errors.Is(err, linux.EINVAL) {
				t.Fatalf("create %q: %v, want EINVAL", name, err)
			}

			// Past p9's name check, straight to the File API.
			r, err := tc.a(share).Attach()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			read := ""
			if _, s, err := r.Walk([]string{"../secret"}); err == nil {
				if _, _, err := s.Open(p9.ReadOnly); err == nil {
					b := make([]byte, 64)
					n, _ := s.ReadAt(b, 0)
					read = string(b[:n])
				}
				s.Close()
			}
			if (read == "top secret") != tc.takes {
				t.Fatalf("walk ../secret read %q", read)
			}
			if _, err := os.Stat(filepath.Join(parent, "x")); err == nil {
				t.Fatal("a file appeared beside the share")
			}
		})
	}
}
