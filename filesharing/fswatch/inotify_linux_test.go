//go:build linux

package fswatch

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

type harness struct {
	t       *testing.T
	root    string
	src     Source
	fwd     *Forwarder
	batches chan []Change
	log     *bytes.Buffer
}

func start(t *testing.T, o Options) *harness {
	t.Helper()
	root := t.TempDir()
	return startAt(t, root, o)
}

func startAt(t *testing.T, root string, o Options) *harness {
	t.Helper()
	return startWith(t, root, o, Batching{Window: 50 * time.Millisecond})
}

func startWith(t *testing.T, root string, o Options, b Batching) *harness {
	t.Helper()
	return startSend(t, root, o, b, 0, nil)
}

// startSend runs the forwarder with echoes remembered for ttl (0: the
// default), and guest, if set, called with each batch before the test sees
// it, as the guest applies it.
func startSend(t *testing.T, root string, o Options, b Batching, ttl time.Duration, guest func([]Change)) *harness {
	t.Helper()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&syncWriter{b: &buf}, nil))
	src, err := Watch(root, o, log)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, root: root, src: src, batches: make(chan []Change, 100), log: &buf}
	h.fwd = &Forwarder{Root: root, Source: src, Echoes: NewEchoes(ttl), Batch: b, Log: log}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.fwd.Run(ctx, func(_ context.Context, b []Change) error {
			if guest != nil {
				guest(b)
			}
			h.batches <- b
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); src.Close(); <-done })
	return h
}

// next waits for a batch and returns it as path (relative) → gone.
func (h *harness) next() map[string]bool {
	h.t.Helper()
	select {
	case b := <-h.batches:
		m := map[string]bool{}
		for _, c := range b {
			rel, _ := filepath.Rel(h.root, c.Path)
			m[rel] = c.Gone
			if !c.Gone {
				fi, err := os.Lstat(c.Path)
				if err != nil || fi.ModTime().UnixNano() != c.Mtime {
					h.t.Errorf("%s sent with mtime %d, has %v %v", rel, c.Mtime, fi.ModTime().UnixNano(), err)
				}
			}
		}
		return m
	case <-time.After(3 * time.Second):
		h.t.Fatal("no batch within 3 s")
		return nil
	}
}

// none checks that no batch comes within d.
func (h *harness) none(d time.Duration) {
	h.t.Helper()
	select {
	case b := <-h.batches:
		h.t.Fatalf("unexpected batch %+v", b)
	case <-time.After(d):
	}
}

func (h *harness) path(rel string) string { return filepath.Join(h.root, rel) }

func want(t *testing.T, got map[string]bool, want map[string]bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("batch %v, want %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Fatalf("batch %v, want %v", got, want)
		}
	}
}

func TestKinds(t *testing.T) {
	h := start(t, Options{})
	os.WriteFile(h.path("a"), []byte("1"), 0o644)
	want(t, h.next(), map[string]bool{"a": false, ".": false}) // created: its directory too

	os.WriteFile(h.path("a"), []byte("2"), 0o644)
	want(t, h.next(), map[string]bool{"a": false})

	f, _ := os.OpenFile(h.path("a"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("appended")
	f.Close()
	want(t, h.next(), map[string]bool{"a": false})

	os.Rename(h.path("a"), h.path("b"))
	want(t, h.next(), map[string]bool{"a": true, "b": false, ".": false})

	os.Mkdir(h.path("d"), 0o755)
	want(t, h.next(), map[string]bool{"d": false, ".": false})
	os.WriteFile(h.path("d/in"), nil, 0o644) // the new directory is watched
	want(t, h.next(), map[string]bool{"d/in": false, "d": false})

	os.Remove(h.path("b"))
	want(t, h.next(), map[string]bool{"b": true, ".": false})

	// A directory moved within the tree is watched at its new path only.
	os.Rename(h.path("d"), h.path("e"))
	// What it holds is reported as created: the watch came after it.
	want(t, h.next(), map[string]bool{"d": true, "e": false, "e/in": false, ".": false})
	os.WriteFile(h.path("e/in"), []byte("x"), 0o644)
	want(t, h.next(), map[string]bool{"e/in": false})
}

// A tree made faster than its watches are added is reported whole.
func TestNewTreeRace(t *testing.T) {
	h := start(t, Options{})
	os.MkdirAll(h.path("x/y/z"), 0o755)
	os.WriteFile(h.path("x/y/z/f"), nil, 0o644)
	got := map[string]bool{}
	deadline := time.After(3 * time.Second)
	for !got["x/y/z/f"] && len(got) < 10 {
		select {
		case b := <-h.batches:
			for _, c := range b {
				rel, _ := filepath.Rel(h.root, c.Path)
				got[rel] = true
			}
		case <-deadline:
			t.Fatalf("x/y/z/f never reported: %v", got)
		}
	}
}

// Many writes to one file in a window are one change in one batch.
func TestCoalescing(t *testing.T) {
	h := start(t, Options{})
	os.WriteFile(h.path("f"), nil, 0o644)
	h.next()
	f, _ := os.OpenFile(h.path("f"), os.O_WRONLY, 0)
	for range 200 {
		f.WriteString("x")
	}
	f.Close()
	want(t, h.next(), map[string]bool{"f": false})
	h.none(200 * time.Millisecond)
	t.Logf("200 writes: %d events from the kernel (it merges repeats), one change", h.fwd.Counts.Events.Load())
}

// Berth's own touch coming back through the share (utimensat of the mtime
// the path already has, as virtiofsd does for the guest) is not sent back;
// a real write right after is.
func TestEchoSuppressed(t *testing.T) {
	h := start(t, Options{})
	os.Mkdir(h.path("d"), 0o755)
	h.next()
	os.WriteFile(h.path("d/f"), []byte("host"), 0o644)
	got := h.next()
	want(t, got, map[string]bool{"d/f": false, "d": false})
	for _, p := range []string{"d/f", "d"} {
		fi, _ := os.Lstat(h.path(p))
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(fi.ModTime().UnixNano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, h.path(p), ts, 0); err != nil {
			t.Fatal(err)
		}
	}
	h.none(300 * time.Millisecond)
	if n := h.fwd.Counts.Echoes.Load(); n != 2 {
		t.Errorf("%d echoes dropped, want 2", n)
	}
	os.WriteFile(h.path("d/f"), []byte("host again"), 0o644)
	want(t, h.next(), map[string]bool{"d/f": false})
}

// A guest that takes longer than the echo memory to apply a batch (10,000
// files on an emulated machine) still gets no echo back: the memory counts
// from its answer.
func TestEchoOfSlowBatch(t *testing.T) {
	ttl := 200 * time.Millisecond
	h := startSend(t, t.TempDir(), Options{}, Batching{Window: 50 * time.Millisecond}, ttl, func(b []Change) {
		for _, c := range b {
			if !c.Gone {
				ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(c.Mtime)}
				unix.UtimesNanoAt(unix.AT_FDCWD, c.Path, ts, 0)
			}
		}
		time.Sleep(2 * ttl)
	})
	for i := range 20 {
		os.WriteFile(h.path("f"+itoa(i)), nil, 0o644)
	}
	h.next()
	h.none(4 * ttl)
}

// Excluded trees are not watched; their coming and going is still seen.
func TestExclude(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "app/node_modules/lib"), 0o755)
	os.MkdirAll(filepath.Join(root, ".git/objects/ab"), 0o755)
	os.MkdirAll(filepath.Join(root, ".git/refs"), 0o755)
	h := startAt(t, root, Options{Exclude: DefaultExclude})
	if n := h.src.(*inotify).Watched(); n != 5 { // root, app, .git, .git/refs; not node_modules, objects (or below)
		t.Logf("watched %v", h.src.(*inotify).paths)
	}
	os.WriteFile(h.path("app/node_modules/lib/x.js"), nil, 0o644)
	os.WriteFile(h.path(".git/objects/ab/cd"), nil, 0o644)
	h.none(200 * time.Millisecond)
	os.WriteFile(h.path(".git/refs/main"), nil, 0o644)
	want(t, h.next(), map[string]bool{".git/refs/main": false, ".git/refs": false})
	os.Mkdir(h.path("node_modules"), 0o755)
	want(t, h.next(), map[string]bool{"node_modules": false, ".": false})
	os.WriteFile(h.path("node_modules/y"), nil, 0o644)
	h.none(200 * time.Millisecond)
}

func TestWatchCap(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a", "b", "c", "d"} {
		os.Mkdir(filepath.Join(root, d), 0o755)
	}
	h := startAt(t, root, Options{MaxWatches: 3})
	if n := h.src.(*inotify).Watched(); n != 3 {
		t.Fatalf("%d watches, cap 3", n)
	}
	os.Mkdir(h.path("e"), 0o755)
	h.next()
	if n := h.src.(*inotify).Watched(); n != 3 {
		t.Fatalf("%d watches after a new directory, cap 3", n)
	}
	if c := strings.Count(h.log.String(), "too many directories to watch"); c != 1 {
		t.Errorf("cap logged %d times:\n%s", c, h.log)
	}
}

// An overflow of the kernel's queue is logged once and becomes one coarse
// change of the folder, and directories made meanwhile get watched.
func TestOverflow(t *testing.T) {
	h := start(t, Options{})
	w := h.src.(*inotify)
	// As if the kernel had dropped the new directory's event.
	w.removeTree(h.root)
	os.Mkdir(h.path("unseen"), 0o755)
	h.none(200 * time.Millisecond)
	w.handle(-1, unix.IN_Q_OVERFLOW, "")
	w.handle(-1, unix.IN_Q_OVERFLOW, "")
	want(t, h.next(), map[string]bool{".": false})
	os.WriteFile(h.path("unseen/f"), nil, 0o644)
	want(t, h.next(), map[string]bool{"unseen/f": false, "unseen": false})
	if c := strings.Count(h.log.String(), "overflowed"); c != 1 {
		t.Errorf("overflow logged %d times", c)
	}
}

// A shared folder deleted on the host: the guest hears it is gone, it is
// logged once, and when it is back it is rescanned and watched again.
func TestFolderDeleted(t *testing.T) {
	rootPoll = 50 * time.Millisecond
	parent := t.TempDir()
	root := filepath.Join(parent, "share")
	os.MkdirAll(filepath.Join(root, "sub"), 0o755)
	h := startAt(t, root, Options{})
	os.RemoveAll(root)
	var gone bool
	for deadline := time.After(3 * time.Second); !gone; {
		select {
		case b := <-h.batches:
			for _, c := range b {
				gone = gone || c.Path == root && c.Gone
			}
		case <-deadline:
			t.Fatal("the folder's going was not reported")
		}
	}
	os.Mkdir(root, 0o755)
	want(t, h.next(), map[string]bool{".": false})
	os.WriteFile(filepath.Join(root, "f"), nil, 0o644)
	want(t, h.next(), map[string]bool{"f": false, ".": false})
	if c := strings.Count(h.log.String(), "went away"); c != 1 {
		t.Errorf("logged %d times:\n%s", c, h.log)
	}
}

// Many more changes than a batch may carry become coarse changes of their
// directories, and beyond that of the folder: the guest is never flooded.
func TestBounded(t *testing.T) {
	h := startWith(t, t.TempDir(), Options{}, Batching{Window: 300 * time.Millisecond, MaxPaths: 100, MaxDirs: 3})
	for _, d := range []string{"a", "b"} {
		os.Mkdir(h.path(d), 0o755)
	}
	h.next()
	for i := range 300 {
		os.WriteFile(h.path(filepathJoin("a", i)), nil, 0o644)
	}
	got := h.next()
	if len(got) > 102 || !has(got, "a") {
		t.Fatalf("%d changes in the batch", len(got))
	}
	t.Logf("300 creates → %d changes, %d coarse", len(got), h.fwd.Counts.Coarse.Load())
}

func has(m map[string]bool, k string) bool { _, ok := m[k]; return ok }

func filepathJoin(d string, i int) string { return filepath.Join(d, "f"+itoa(i)) }
