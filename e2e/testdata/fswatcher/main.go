// Command fswatcher prints what a watcher in a container sees of the
// directories it is given, one line per event: "fsnotify OP PATH" for Go's
// fsnotify (as air and other Go tools that rebuild on change use it), or,
// with -raw, "inotify MASK PATH" for plain inotify (as inotifywait shows
// it: Debian's busybox has no inotifyd). fsnotify watches directories
// created under them too.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-raw" {
		raw(os.Args[2:])
		return
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		fail(err)
	}
	for _, d := range os.Args[1:] {
		if err := w.Add(d); err != nil {
			fail(err)
		}
	}
	fmt.Println("fsnotify ready")
	for {
		select {
		case ev := <-w.Events:
			fmt.Printf("fsnotify %s %s\n", ev.Op, ev.Name)
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
					if err := w.Add(ev.Name); err != nil {
						fmt.Println("fsnotify error", err)
					}
				}
			}
		case err := <-w.Errors:
			fmt.Println("fsnotify error", err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

var names = []struct {
	bit  uint32
	name string
}{
	{unix.IN_MODIFY, "MODIFY"}, {unix.IN_ATTRIB, "ATTRIB"}, {unix.IN_CLOSE_WRITE, "CLOSE_WRITE"},
	{unix.IN_CREATE, "CREATE"}, {unix.IN_DELETE, "DELETE"}, {unix.IN_MOVED_FROM, "MOVED_FROM"},
	{unix.IN_MOVED_TO, "MOVED_TO"}, {unix.IN_DELETE_SELF, "DELETE_SELF"}, {unix.IN_MOVE_SELF, "MOVE_SELF"},
	{unix.IN_Q_OVERFLOW, "Q_OVERFLOW"}, {unix.IN_ISDIR, "ISDIR"},
}

func raw(dirs []string) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		fail(err)
	}
	wds := map[int32]string{}
	for _, d := range dirs {
		wd, err := unix.InotifyAddWatch(fd, d, unix.IN_MODIFY|unix.IN_ATTRIB|unix.IN_CLOSE_WRITE|unix.IN_CREATE|
			unix.IN_DELETE|unix.IN_MOVED_FROM|unix.IN_MOVED_TO|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF)
		if err != nil {
			fail(err)
		}
		wds[int32(wd)] = d
	}
	fmt.Println("inotify ready")
	buf := make([]byte, 256<<10)
	for {
		n, err := unix.Read(fd, buf)
		if err != nil {
			fail(err)
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
			off += unix.SizeofInotifyEvent + int(ev.Len)
			var m []string
			for _, nm := range names {
				if ev.Mask&nm.bit != 0 {
					m = append(m, nm.name)
				}
			}
			p := wds[ev.Wd]
			if name != "" {
				p = filepath.Join(p, name)
			}
			fmt.Printf("inotify %s %s\n", strings.Join(m, "|"), p)
		}
	}
}
