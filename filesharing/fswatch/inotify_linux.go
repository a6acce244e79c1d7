//go:build linux

package fswatch

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// inotify needs a watch per directory: the tree is walked at the start, as
// directories appear, and again after the kernel's queue overflowed.
type inotify struct {
	root   string
	o      Options
	log    *slog.Logger
	f      *os.File
	fd     int
	events chan Event
	done   chan struct{}
	once   sync.Once

	mu      sync.Mutex
	wds     map[int32]string
	paths   map[string]int32
	warned  map[string]bool // what was logged once
	waiting bool            // the root is gone; a poll waits for it
}

const watchMask = unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_CREATE | unix.IN_DELETE |
	unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF |
	unix.IN_ONLYDIR | unix.IN_DONT_FOLLOW | unix.IN_EXCL_UNLINK

func (o Options) maxWatches() int {
	if o.MaxWatches > 0 {
		return o.MaxWatches
	}
	return DefaultMaxWatches
}

// rootPoll is how often a watched folder that went away is looked for.
var rootPoll = 2 * time.Second

// Watch watches root and everything below it that o does not exclude.
func Watch(root string, o Options, log *slog.Logger) (Source, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("watch %s: inotify_init1: %w", root, err)
	}
	w := &inotify{
		root: filepath.Clean(root), o: o, log: log.With("folder", root),
		f: os.NewFile(uintptr(fd), "inotify"), fd: fd,
		events: make(chan Event, 4096), done: make(chan struct{}),
		wds: map[int32]string{}, paths: map[string]int32{}, warned: map[string]bool{},
	}
	if fi, err := os.Stat(w.root); err != nil || !fi.IsDir() {
		w.f.Close()
		if err == nil {
			err = errors.New("not a directory")
		}
		return nil, fmt.Errorf("watch %s: %w", root, err)
	}
	start := time.Now()
	w.addTree(w.root, false)
	w.mu.Lock()
	n := len(w.wds)
	w.mu.Unlock()
	w.log.Info("watching a shared folder for changes", "directories", n, "took", time.Since(start).Round(time.Millisecond))
	go w.read()
	return w, nil
}

func (w *inotify) Events() <-chan Event { return w.events }

func (w *inotify) Close() error {
	w.once.Do(func() { close(w.done) })
	return w.f.Close()
}

// Watched is how many directories have a watch.
func (w *inotify) Watched() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.wds)
}

func (w *inotify) emit(p string, op Op) {
	select {
	case w.events <- Event{Path: p, Op: op}:
	case <-w.done:
	}
}

// warnOnce logs msg the first time kind happens.
func (w *inotify) warnOnce(kind, msg string, args ...any) {
	w.mu.Lock()
	seen := w.warned[kind]
	w.warned[kind] = true
	w.mu.Unlock()
	if !seen {
		w.log.Warn(msg, args...)
	}
}

func (w *inotify) read() {
	defer close(w.events)
	buf := make([]byte, 256<<10)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			select {
			case <-w.done:
			default:
				w.log.Error("reading file events stopped", "err", err)
			}
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
			off += unix.SizeofInotifyEvent + int(ev.Len)
			w.handle(ev.Wd, ev.Mask, name)
		}
	}
}

func (w *inotify) handle(wd int32, mask uint32, name string) {
	if mask&unix.IN_Q_OVERFLOW != 0 {
		w.warnOnce("overflow", "the kernel's queue of file events overflowed: the folder is rescanned and the guest told of it as a whole (logged once)")
		w.emit(w.root, Rescan)
		w.addTree(w.root, false) // directories made meanwhile
		return
	}
	w.mu.Lock()
	dir, ok := w.wds[wd]
	if ok && mask&unix.IN_IGNORED != 0 {
		delete(w.wds, wd)
		if w.paths[dir] == wd {
			delete(w.paths, dir)
		}
	}
	w.mu.Unlock()
	if !ok {
		return
	}
	if name == "" {
		// The directory's own events: its parent's watch reports the same
		// with its name. The root has no parent here: it going away (or
		// being unmounted) is the one to act on.
		if dir == w.root && mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_UNMOUNT|unix.IN_IGNORED) != 0 {
			w.rootGone()
		}
		return
	}
	p := filepath.Join(dir, name)
	var op Op
	switch {
	case mask&unix.IN_MODIFY != 0:
		op = Write
	case mask&unix.IN_ATTRIB != 0:
		op = Attrib
	case mask&unix.IN_CREATE != 0:
		op = Create
	case mask&unix.IN_DELETE != 0:
		op = Remove
	case mask&(unix.IN_MOVED_FROM|unix.IN_MOVED_TO) != 0:
		op = Rename
	default:
		return
	}
	w.emit(p, op)
	if mask&unix.IN_ISDIR == 0 {
		return
	}
	switch {
	case mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0:
		if !w.o.Excluded(w.rel(p)) {
			w.addTree(p, true)
		}
	case mask&unix.IN_MOVED_FROM != 0:
		w.removeTree(p)
	}
}

func (w *inotify) rel(p string) string {
	r, err := filepath.Rel(w.root, p)
	if err != nil {
		return p
	}
	return r
}

// addTree watches dir and the directories below it. With created, what it
// finds is reported as created: it may have come before the watch did.
func (w *inotify) addTree(dir string, created bool) {
	limit := w.o.maxWatches()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			return nil // gone or unreadable below: skip it
		}
		if created && p != dir {
			w.emit(p, Create)
		}
		if !d.IsDir() {
			return nil
		}
		if p != w.root && w.o.Excluded(w.rel(p)) {
			return filepath.SkipDir
		}
		w.mu.Lock()
		n := len(w.wds)
		_, have := w.paths[p]
		w.mu.Unlock()
		if have {
			return nil
		}
		if n >= limit {
			w.warnOnce("cap", "too many directories to watch: changes below those not watched are not seen in the guest (exclude large trees in the settings) (logged once)", "watches", n, "first_unwatched", p)
			return filepath.SkipAll
		}
		wd, err := unix.InotifyAddWatch(w.fd, p, watchMask)
		switch {
		case errors.Is(err, unix.ENOSPC):
			w.warnOnce("enospc", "the kernel's limit of inotify watches is reached (sysctl fs.inotify.max_user_watches): changes below the directories not watched are not seen in the guest (logged once)", "watches", n, "first_unwatched", p)
			return filepath.SkipAll
		case err != nil:
			return filepath.SkipDir // gone, or not ours to read
		}
		w.mu.Lock()
		w.wds[int32(wd)] = p
		w.paths[p] = int32(wd)
		w.mu.Unlock()
		return nil
	})
	if err != nil && dir != w.root {
		w.log.Debug("a new directory went before it was watched", "dir", dir, "err", err)
	}
}

// removeTree drops the watches of a directory moved away and those below
// it: their paths are no longer theirs (a move into the tree adds them
// again at the new path).
func (w *inotify) removeTree(dir string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for p, wd := range w.paths {
		if p == dir || strings.HasPrefix(p, dir+string(filepath.Separator)) {
			unix.InotifyRmWatch(w.fd, uint32(wd)) //nolint:errcheck // the watch may be gone already
			delete(w.paths, p)
			delete(w.wds, wd)
		}
	}
}

// rootGone handles the shared folder deleted, moved or unmounted on the
// host: the guest hears it is gone, and the folder is looked for until it
// is back, then rescanned.
func (w *inotify) rootGone() {
	w.mu.Lock()
	if w.waiting {
		w.mu.Unlock()
		return
	}
	w.waiting = true
	w.mu.Unlock()
	w.warnOnce("gone", "the shared folder went away on the host (deleted, moved or unmounted): watching for it to come back (logged once)")
	w.removeTree(w.root)
	w.emit(w.root, Remove)
	go func() {
		t := time.NewTicker(rootPoll)
		defer t.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-t.C:
			}
			if fi, err := os.Stat(w.root); err != nil || !fi.IsDir() {
				continue
			}
			w.mu.Lock()
			w.waiting = false
			w.mu.Unlock()
			w.addTree(w.root, false)
			w.log.Info("the shared folder is back: rescanned", "directories", w.Watched())
			w.emit(w.root, Rescan)
			return
		}
	}()
}
