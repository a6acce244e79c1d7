//go:build darwin && cgo

package fswatch

/*
#cgo LDFLAGS: -framework CoreServices
#include <CoreServices/CoreServices.h>
#include <dispatch/dispatch.h>

extern void berthFSEvents(ConstFSEventStreamRef, void *, size_t, void *, FSEventStreamEventFlags *, FSEventStreamEventId *);

// berthStream watches path with file-level events, delivered on a queue of
// its own within latency seconds; WatchRoot reports the folder itself
// moving or going.
static FSEventStreamRef berthStream(const char *path, uintptr_t handle, double latency) {
	CFStringRef p = CFStringCreateWithCString(NULL, path, kCFStringEncodingUTF8);
	CFArrayRef paths = CFArrayCreate(NULL, (const void **)&p, 1, &kCFTypeArrayCallBacks);
	FSEventStreamContext ctx = {0, (void *)handle, NULL, NULL, NULL};
	FSEventStreamRef s = FSEventStreamCreate(NULL, (FSEventStreamCallback)berthFSEvents, &ctx, paths,
		kFSEventStreamEventIdSinceNow, latency,
		kFSEventStreamCreateFlagFileEvents | kFSEventStreamCreateFlagNoDefer | kFSEventStreamCreateFlagWatchRoot);
	CFRelease(paths);
	CFRelease(p);
	if (s != NULL) {
		FSEventStreamSetDispatchQueue(s, dispatch_queue_create("berth.fsevents", DISPATCH_QUEUE_SERIAL));
		if (!FSEventStreamStart(s)) {
			FSEventStreamInvalidate(s);
			FSEventStreamRelease(s);
			s = NULL;
		}
	}
	return s;
}

static void berthStop(FSEventStreamRef s) {
	FSEventStreamStop(s);
	FSEventStreamInvalidate(s);
	FSEventStreamRelease(s);
}
*/
import "C"

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime/cgo"
	"sync"
	"unsafe"
)

// fsevents watches a folder with an FSEvents stream: one stream for the
// whole tree (no per-directory watches, so no cap is needed), exclusions
// applied to the events. Never run here: type-checked with
// internal/typecheck, and its translation (fromFSEvent) tested on Linux.
type fsevents struct {
	root   string
	o      Options
	log    *slog.Logger
	stream C.FSEventStreamRef
	handle cgo.Handle
	events chan Event
	done   chan struct{}
	once   sync.Once
}

// fseLatency is the stream's own coalescing; the Forwarder batches after.
const fseLatency = 0.05

// Watch watches root and everything below it that o does not exclude.
func Watch(root string, o Options, log *slog.Logger) (Source, error) {
	w := &fsevents{root: filepath.Clean(root), o: o, log: log.With("folder", root), events: make(chan Event, 4096), done: make(chan struct{})}
	w.handle = cgo.NewHandle(w)
	p := C.CString(w.root)
	defer C.free(unsafe.Pointer(p))
	w.stream = C.berthStream(p, C.uintptr_t(w.handle), C.double(fseLatency))
	if w.stream == nil {
		w.handle.Delete()
		return nil, fmt.Errorf("watch %s: FSEventStreamCreate failed", root)
	}
	return w, nil
}

func (w *fsevents) Events() <-chan Event { return w.events }

func (w *fsevents) Close() error {
	w.once.Do(func() {
		close(w.done)
		C.berthStop(w.stream) // waits out a callback that runs
		w.handle.Delete()
		close(w.events)
	})
	return nil
}

//export berthFSEvents
func berthFSEvents(_ C.ConstFSEventStreamRef, info unsafe.Pointer, n C.size_t, paths unsafe.Pointer, flags *C.FSEventStreamEventFlags, _ *C.FSEventStreamEventId) {
	w := cgo.Handle(uintptr(info)).Value().(*fsevents)
	ps := unsafe.Slice((**C.char)(paths), int(n))
	fs := unsafe.Slice(flags, int(n))
	for i := range ps {
		ev, ok := fromFSEvent(w.root, C.GoString(ps[i]), uint32(fs[i]), w.o)
		if !ok {
			continue
		}
		select {
		case w.events <- ev:
		case <-w.done:
			return
		}
	}
}
