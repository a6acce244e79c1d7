//go:build linux

package fsnotice

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/berthvm/berth/guestd/protocol"
)

// notice is one inotify event a watch in the test saw.
type notice struct {
	mask uint32
	name string
}

// watch puts a real inotify watch on dir, as a watcher in a container does.
func watch(t *testing.T, dir string) func() []notice {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_ALL_EVENTS&^(unix.IN_OPEN|unix.IN_CLOSE_NOWRITE|unix.IN_ACCESS)); err != nil {
		t.Fatal(err)
	}
	return func() []notice {
		var out []notice
		buf := make([]byte, 64<<10)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		unix.Poll(fds, 200)
		n, _ := unix.Read(fd, buf)
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			for len(name) > 0 && name[len(name)-1] == 0 {
				name = name[:len(name)-1]
			}
			out = append(out, notice{ev.Mask, string(name)})
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
		return out
	}
}

func stat(t *testing.T, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func mtime(st unix.Stat_t) int64 { return st.Mtim.Nano() }

// A batch the host gave up on is not applied further.
func TestCancelled(t *testing.T) {
	root := t.TempDir()
	f := filepath.Join(root, "f")
	os.WriteFile(f, nil, 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	touched := 0
	a := &Applier{Roots: []string{root}, touch: func(string, int64) error { touched++; return nil }}
	got := a.Apply(ctx, protocol.FSEvents{Changes: []protocol.FSChange{{Path: f, MtimeNanos: mtime(stat(t, f))}}})
	if touched != 0 || got.Skipped != 1 {
		t.Errorf("applied %+v after the host gave up", got)
	}
}

// A file the host wrote: a watcher of its directory sees IN_MODIFY with the
// file's name, and content, mtime and atime stay as they were.
func TestWriteRaisesModify(t *testing.T) {
	root := t.TempDir()
	f := filepath.Join(root, "main.go")
	os.WriteFile(f, []byte("package main\n"), 0o644)
	old := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	os.Chtimes(f, old.Add(-time.Hour), old)
	before := stat(t, f)
	events := watch(t, root)

	a := &Applier{Roots: []string{root}}
	got := a.Apply(context.Background(), protocol.FSEvents{Changes: []protocol.FSChange{{Path: f, MtimeNanos: mtime(before)}}})
	if got.Touched != 1 || got.Skipped != 0 {
		t.Fatalf("applied %+v", got)
	}
	ev := events()
	if len(ev) != 1 || ev[0].mask != unix.IN_MODIFY || ev[0].name != "main.go" {
		t.Fatalf("watcher saw %+v, want one IN_MODIFY main.go", ev)
	}
	after := stat(t, f)
	if mtime(after) != mtime(before) || after.Atim != before.Atim || after.Size != before.Size {
		t.Errorf("times or size changed: mtime %d→%d atime %v→%v", mtime(before), mtime(after), before.Atim, after.Atim)
	}
	if b, _ := os.ReadFile(f); string(b) != "package main\n" {
		t.Errorf("content changed: %q", b)
	}
}

// A file the host created or removed: its parent directory comes as a
// change of its own. A watcher of the directory sees IN_MODIFY|IN_ISDIR on
// the directory itself, a watcher of the directory's parent sees it with
// the directory's name; the directory's mtime stays the host's.
func TestParentRaisesModify(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "src")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "new.txt"), nil, 0o644)
	before := stat(t, dir)
	inDir, inRoot := watch(t, dir), watch(t, root)

	a := &Applier{Roots: []string{root}}
	a.Apply(context.Background(), protocol.FSEvents{Changes: []protocol.FSChange{{Path: dir, MtimeNanos: mtime(before)}, {Path: filepath.Join(dir, "gone.txt"), Gone: true}}})
	if ev := inDir(); len(ev) != 1 || ev[0].mask != unix.IN_MODIFY|unix.IN_ISDIR || ev[0].name != "" {
		t.Errorf("watcher of the directory saw %+v, want IN_MODIFY|IN_ISDIR on itself", ev)
	}
	if ev := inRoot(); len(ev) != 1 || ev[0].mask != unix.IN_MODIFY|unix.IN_ISDIR || ev[0].name != "src" {
		t.Errorf("watcher of the parent saw %+v, want IN_MODIFY|IN_ISDIR src", ev)
	}
	if after := stat(t, dir); mtime(after) != mtime(before) || after.Atim != before.Atim {
		t.Errorf("directory times changed")
	}
}

// Paths outside the shares, unclean paths, vanished paths, files the host
// changed again since it sent the batch (their newer time must stay) and
// files the guest wrote itself are left alone.
func TestRefusedAndSkipped(t *testing.T) {
	root, other := t.TempDir(), t.TempDir()
	own := filepath.Join(root, "own")
	os.WriteFile(own, nil, 0o644)
	ownSt := stat(t, own)
	ownIno := ownSt.Ino
	again := filepath.Join(root, "again")
	os.WriteFile(again, nil, 0o644)
	againSt := stat(t, again)
	outside := filepath.Join(other, "x")
	os.WriteFile(outside, nil, 0o644)
	events := watch(t, other)
	touched := 0
	a := &Applier{Roots: []string{root}, Own: func(ino uint64) bool { return ino == ownIno },
		touch: func(p string, ns int64) error { touched++; return setMtime(p, ns) }}
	got := a.Apply(context.Background(), protocol.FSEvents{Changes: []protocol.FSChange{
		{Path: outside, MtimeNanos: 1},
		{Path: root + "/../" + filepath.Base(other) + "/x", MtimeNanos: 1},
		{Path: "relative", MtimeNanos: 1},
		{Path: filepath.Join(root, "vanished"), MtimeNanos: 1},
		{Path: own, MtimeNanos: mtime(ownSt)},
		{Path: again, MtimeNanos: mtime(againSt) - 1},
	}})
	if got.Touched != 0 || got.Skipped != 6 || touched != 0 {
		t.Fatalf("applied %+v, %d touches", got, touched)
	}
	if st := stat(t, again); mtime(st) != mtime(againSt) {
		t.Error("a file changed again got the batch's older time")
	}
	if ev := events(); len(ev) != 0 {
		t.Errorf("a path outside the shares was touched: %+v", ev)
	}
}

// A file a container wrote comes back from the host as a change: its
// watchers had their event, so neither it nor its directory is raised
// again; a file the host made beside it is.
func TestOwnWritesNotRaisedAgain(t *testing.T) {
	root := t.TempDir()
	mine, hosts := filepath.Join(root, "mine"), filepath.Join(root, "hosts")
	os.Mkdir(mine, 0o755)
	os.Mkdir(hosts, 0o755)
	ow, err := WatchOwnWrites([]string{root}, slog.Default())
	if err != nil {
		t.Skipf("fanotify needs CAP_SYS_ADMIN: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ow.Run(ctx)

	written := filepath.Join(mine, "out.txt")
	if out, err := exec.Command("sh", "-c", "echo from a container > '"+written+"'").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	byHost := filepath.Join(hosts, "in.txt")
	os.WriteFile(byHost, []byte("guestd's own pid: not a container's write"), 0o644)
	ino := stat(t, written).Ino
	// At once: the kernel queued the write before the write returned.
	if !ow.Own(ino) {
		t.Fatal("the container's write was not noticed")
	}
	if ow.Own(stat(t, byHost).Ino) {
		t.Fatal("a write with guestd's own pid counted as the guest's")
	}

	inMine, inHosts := watch(t, mine), watch(t, hosts)
	a := &Applier{Roots: []string{root}, Own: ow.Own}
	got := a.Apply(context.Background(), protocol.FSEvents{Changes: []protocol.FSChange{
		{Path: mine, MtimeNanos: mtime(stat(t, mine))}, {Path: written, MtimeNanos: mtime(stat(t, written))},
		{Path: hosts, MtimeNanos: mtime(stat(t, hosts))}, {Path: byHost, MtimeNanos: mtime(stat(t, byHost))},
	}})
	if got.Touched != 2 || got.Skipped != 2 {
		t.Errorf("applied %+v", got)
	}
	if ev := inMine(); len(ev) != 0 {
		t.Errorf("the container's own file raised again: %+v", ev)
	}
	if ev := inHosts(); len(ev) != 2 {
		t.Errorf("the host's file and its directory: %+v", ev)
	}
}
