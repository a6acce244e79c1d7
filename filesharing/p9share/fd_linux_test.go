package p9share

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hugelgupf/p9/p9"
)

func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// Walks and getattrs leave nothing open (localfs on Windows kept a handle
// per walk), and an opened file holds one descriptor, until clunked.
func TestWalksLeaveNoDescriptors(t *testing.T) {
	_, share := layout(t)
	os.MkdirAll(filepath.Join(share, "a", "b"), 0o755)
	write(t, filepath.Join(share, "a", "b", "f"), "data")
	root := serve(t, New(share, false, quiet()))

	before := openFDs(t)
	const n = 10000
	for i := 0; i < n; i++ {
		_, f, _, _, err := root.WalkGetAttr([]string{"a", "b", "f"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := f.GetAttr(p9.AttrMaskAll); err != nil {
			t.Fatal(err)
		}
		_, g, err := root.Walk([]string{"a"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := g.GetAttr(p9.AttrMaskAll); err != nil {
			t.Fatal(err)
		}
		f.Close()
		g.Close()
	}
	after := openFDs(t)
	t.Logf("open descriptors before %d walks+getattrs: %d, after: %d", n, before, after)
	if after > before+2 {
		t.Fatalf("%d descriptors open after %d walks, %d before", after, n, before)
	}

	// One open file: one descriptor more, until its clunk.
	_, f, err := root.Walk([]string{"a", "b", "f"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Open(p9.ReadOnly); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := f.GetAttr(p9.AttrMaskAll); err != nil {
		t.Fatal(err)
	}
	if open := openFDs(t); open != after+1 {
		t.Fatalf("an open file: %d descriptors, want %d", open, after+1)
	}
	f.Close()
	if _, err := root.StatFS(); err != nil { // a round trip: the clunk is done
		t.Fatal(err)
	}
	if end := openFDs(t); end != after {
		t.Fatalf("after the clunk: %d descriptors, want %d", end, after)
	}
}

// An idle share holds nothing of the host's folder: the root's descriptor
// goes with the last file.
func TestIdleShareHoldsNoDescriptor(t *testing.T) {
	_, share := layout(t)
	s := New(share, false, quiet())
	before := openFDs(t)
	root, err := s.Attach()
	if err != nil {
		t.Fatal(err)
	}
	_, f, err := root.Walk(nil)
	if err != nil {
		t.Fatal(err)
	}
	root.Close()
	if open := openFDs(t); open != before+1 {
		t.Fatalf("%d descriptors with a file of the share held, %d before", open, before)
	}
	f.Close()
	if open := openFDs(t); open != before {
		t.Fatalf("%d descriptors once idle, %d before", open, before)
	}
}
