package p9share

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// watcher reports every open, read, write, attribute change, creation,
// removal and move of what lies outside the share: the secret file, the
// sibling folder and its file, and the parent folder itself. Stat opens
// nothing and does not show; a walk that reached outside and opened
// anything would.
type watcher struct {
	fd   int
	dirs map[int]string // watch descriptor → folder
}

func watchOutside(t testing.TB, parent string) *watcher {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	w := &watcher{fd: fd, dirs: map[int]string{}}
	t.Cleanup(func() { unix.Close(fd) })
	const all = unix.IN_ALL_EVENTS &^ unix.IN_CLOSE_NOWRITE
	for _, d := range []string{parent, filepath.Join(parent, "sibling")} {
		wd, err := unix.InotifyAddWatch(fd, d, all)
		if err != nil {
			t.Fatal(err)
		}
		w.dirs[wd] = d
	}
	return w
}

// events are what happened since the last call, other than to the share
// folder itself (which the parent's watch also sees).
func (w *watcher) events() []string {
	var out []string
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(w.fd, buf)
		if n <= 0 || err != nil {
			return out
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafePointer(&buf[off]))
			name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if name == "share" && w.dirs[int(ev.Wd)] != "" && !strings.HasSuffix(w.dirs[int(ev.Wd)], "sibling") {
				continue
			}
			out = append(out, filepath.Join(w.dirs[int(ev.Wd)], name)+" "+mask(ev.Mask))
		}
	}
}

func (w *watcher) none(t testing.TB) {
	t.Helper()
	if ev := w.events(); len(ev) > 0 {
		t.Fatalf("something outside the share was touched: %v", ev)
	}
}

func mask(m uint32) string {
	var s []string
	for bit, name := range map[uint32]string{
		unix.IN_ACCESS: "read", unix.IN_MODIFY: "write", unix.IN_ATTRIB: "attrib", unix.IN_CLOSE_WRITE: "close-write",
		unix.IN_OPEN: "open", unix.IN_MOVED_FROM: "moved-from", unix.IN_MOVED_TO: "moved-to", unix.IN_CREATE: "create",
		unix.IN_DELETE: "delete", unix.IN_DELETE_SELF: "delete-self", unix.IN_MOVE_SELF: "move-self",
	} {
		if m&bit != 0 {
			s = append(s, name)
		}
	}
	return strings.Join(s, "|")
}

// The watcher sees a read of the secret, and not a stat of it: what the
// escape tests lean on.
func TestWatcherSeesOpensNotStats(t *testing.T) {
	parent, _ := layout(t)
	w := watchOutside(t, parent)
	if _, err := os.Lstat(filepath.Join(parent, "secret")); err != nil {
		t.Fatal(err)
	}
	if ev := w.events(); len(ev) != 0 {
		t.Fatalf("a stat showed: %v", ev)
	}
	if _, err := os.ReadFile(filepath.Join(parent, "secret")); err != nil {
		t.Fatal(err)
	}
	if ev := w.events(); len(ev) == 0 {
		t.Fatal("a read of the secret did not show")
	}
}
