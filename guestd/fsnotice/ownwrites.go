//go:build linux

package fsnotice

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// OwnTTL is how long a file the guest wrote counts as its own: the host
// sees the write through the share and sends it back within a batch's
// window and a round trip, well inside this even under emulation.
const OwnTTL = 5 * time.Second

// maxOwn bounds the memory of files written: beyond it the oldest half of
// the entries go (an echo then raises a second IN_MODIFY, nothing worse).
const maxOwn = 100000

// OwnWrites remembers the files that processes in the guest (containers)
// wrote in the shared folders lately, so that the host's batch, which
// carries those writes back as changes, does not raise them a second time.
// fanotify marks each share's whole filesystem, so writes through any
// bind mount of it in any container count; guestd's own touches are not
// writes (and carry guestd's pid).
type OwnWrites struct {
	log  *slog.Logger
	fd   int
	self int32

	readMu     sync.Mutex // the queue is read by Run and by Own
	buf        []byte
	overflowed bool

	mu  sync.Mutex
	ino map[uint64]time.Time
}

// WatchOwnWrites marks the filesystems of roots for writes.
func WatchOwnWrites(roots []string, log *slog.Logger) (*OwnWrites, error) {
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_NOTIF|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK, unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fanotify_init: %w", err)
	}
	for _, r := range roots {
		if err := unix.FanotifyMark(fd, unix.FAN_MARK_ADD|unix.FAN_MARK_FILESYSTEM, unix.FAN_MODIFY, unix.AT_FDCWD, r); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("fanotify_mark %s: %w", r, err)
		}
	}
	return &OwnWrites{log: log, fd: fd, self: int32(os.Getpid()), buf: make([]byte, 64<<10), ino: map[uint64]time.Time{}}, nil
}

// Run keeps the kernel's queue short until ctx ends, then closes it.
func (w *OwnWrites) Run(ctx context.Context) {
	defer func() {
		w.readMu.Lock()
		unix.Close(w.fd)
		w.fd = -1
		w.readMu.Unlock()
	}()
	for ctx.Err() == nil {
		fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, 500); err != nil && err != unix.EINTR {
			w.log.Warn("reading the guest's own writes stopped: its writes to shared folders may be raised twice", "err", err)
			return
		}
		w.drain()
	}
}

// drain reads what the kernel queued. A write is queued before the write
// call returns, so before the host can have seen it: a drain when the
// host's batch comes finds every write the batch carries back.
func (w *OwnWrites) drain() {
	w.readMu.Lock()
	defer w.readMu.Unlock()
	for w.fd >= 0 {
		n, err := unix.Read(w.fd, w.buf)
		if err != nil || n <= 0 {
			return
		}
		now := time.Now()
		for off := 0; off+int(unsafe.Sizeof(unix.FanotifyEventMetadata{})) <= n; {
			m := (*unix.FanotifyEventMetadata)(unsafe.Pointer(&w.buf[off]))
			if m.Event_len == 0 {
				break
			}
			off += int(m.Event_len)
			if m.Mask&unix.FAN_Q_OVERFLOW != 0 && !w.overflowed {
				w.overflowed = true
				w.log.Warn("the guest's own writes overflowed fanotify's queue: some may be raised twice (logged once)")
			}
			if m.Fd < 0 {
				continue
			}
			var st unix.Stat_t
			if m.Pid != w.self && unix.Fstat(int(m.Fd), &st) == nil {
				w.note(st.Ino, now)
			}
			unix.Close(int(m.Fd))
		}
	}
}

func (w *OwnWrites) note(ino uint64, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.ino) >= maxOwn {
		for k, t := range w.ino {
			if now.Sub(t) > OwnTTL/2 {
				delete(w.ino, k)
			}
		}
		if len(w.ino) >= maxOwn {
			clear(w.ino)
		}
	}
	w.ino[ino] = now
}

// Own says whether the file with inode ino was written in the guest
// within OwnTTL.
func (w *OwnWrites) Own(ino uint64) bool {
	w.drain()
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.ino[ino]
	if ok && time.Since(t) > OwnTTL {
		delete(w.ino, ino)
		return false
	}
	return ok
}
