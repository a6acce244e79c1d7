//go:build windows

package fswatch

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// rdcw watches a folder with ReadDirectoryChangesW: one handle for the
// whole tree (no per-directory watches, so no cap is needed), exclusions
// applied to the events. Never run here: compiled and its translation
// (fromRDCW) tested on Linux.
type rdcw struct {
	root   string
	o      Options
	log    *slog.Logger
	mu     sync.Mutex // h: replaced when the folder comes back
	h      windows.Handle
	events chan Event
	done   chan struct{}
	once   sync.Once
}

const rdcwFilter = windows.FILE_NOTIFY_CHANGE_FILE_NAME | windows.FILE_NOTIFY_CHANGE_DIR_NAME |
	windows.FILE_NOTIFY_CHANGE_ATTRIBUTES | windows.FILE_NOTIFY_CHANGE_SIZE | windows.FILE_NOTIFY_CHANGE_LAST_WRITE

// rootPoll is how often a watched folder that went away is looked for.
var rootPoll = 2 * time.Second

// Watch watches root and everything below it that o does not exclude.
func Watch(root string, o Options, log *slog.Logger) (Source, error) {
	w := &rdcw{root: filepath.Clean(root), o: o, log: log.With("folder", root), events: make(chan Event, 4096), done: make(chan struct{})}
	h, err := w.open()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", root, err)
	}
	w.h = h
	go w.read()
	return w, nil
}

func (w *rdcw) open() (windows.Handle, error) {
	p, err := windows.UTF16PtrFromString(w.root)
	if err != nil {
		return 0, err
	}
	// FILE_FLAG_BACKUP_SEMANTICS opens a directory.
	return windows.CreateFile(p, windows.FILE_LIST_DIRECTORY,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_EXISTING, windows.FILE_FLAG_BACKUP_SEMANTICS, 0)
}

func (w *rdcw) Events() <-chan Event { return w.events }

func (w *rdcw) Close() error {
	w.once.Do(func() { close(w.done) })
	w.mu.Lock()
	defer w.mu.Unlock()
	// Ends a ReadDirectoryChangesW that waits.
	windows.CancelIoEx(w.h, nil) //nolint:errcheck // nothing may be pending
	return windows.CloseHandle(w.h)
}

func (w *rdcw) handle() windows.Handle {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.h
}

func (w *rdcw) emit(ev Event) {
	select {
	case w.events <- ev:
	case <-w.done:
	}
}

func (w *rdcw) read() {
	defer close(w.events)
	buf := make([]byte, 64<<10) // the most a call may return over the network
	warned := false
	for {
		var n uint32
		err := windows.ReadDirectoryChanges(w.handle(), &buf[0], uint32(len(buf)), true, rdcwFilter, &n, nil, 0)
		select {
		case <-w.done:
			return
		default:
		}
		switch {
		case errors.Is(err, windows.ERROR_NOTIFY_ENUM_DIR) || err == nil && n == 0:
			if !warned {
				w.log.Warn("the folder's change buffer overflowed: it is told to the guest as a whole (logged once)")
				warned = true
			}
			w.emit(Event{Path: w.root, Op: Rescan})
			continue
		case err != nil:
			// The folder was deleted, moved or its volume went.
			w.log.Warn("the shared folder went away on the host: watching for it to come back", "err", err)
			w.emit(Event{Path: w.root, Op: Remove})
			if !w.reopen() {
				return
			}
			w.emit(Event{Path: w.root, Op: Rescan})
			continue
		}
		for _, ev := range fromRDCW(w.root, parseRDCW(buf[:n]), w.o) {
			w.emit(ev)
		}
	}
}

// reopen waits for the folder to come back and watches it again.
func (w *rdcw) reopen() bool {
	windows.CloseHandle(w.handle()) //nolint:errcheck // it is gone
	t := time.NewTicker(rootPoll)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return false
		case <-t.C:
		}
		if fi, err := os.Stat(w.root); err != nil || !fi.IsDir() {
			continue
		}
		if h, err := w.open(); err == nil {
			w.mu.Lock()
			w.h = h
			w.mu.Unlock()
			return true
		}
	}
}

// parseRDCW reads the FILE_NOTIFY_INFORMATION records in b.
func parseRDCW(b []byte) []rdcwRecord {
	var out []rdcwRecord
	for off := 0; off+12 <= len(b); {
		info := (*windows.FileNotifyInformation)(unsafe.Pointer(&b[off]))
		n := int(info.FileNameLength) / 2
		if off+12+n*2 > len(b) {
			break
		}
		name := unsafe.Slice(&info.FileName, n)
		out = append(out, rdcwRecord{Action: info.Action, Name: windows.UTF16ToString(name)})
		if info.NextEntryOffset == 0 {
			break
		}
		off += int(info.NextEntryOffset)
	}
	return out
}
