// Package loglink carries guestd's log to the host over a stream guestd
// dials (a Hyper-V socket), besides the console: Hyper-V's console pipe
// may be out of the host daemon's reach, and a boot that fails must be
// seen in seconds, not after the host gives up waiting.
package loglink

import (
	"context"
	"io"
	"sync"
	"time"
)

// writeWait bounds a write to the host: the log must never stall guestd
// (PID 1) on a host that stopped reading.
const writeWait = 2 * time.Second

// Link is an io.Writer that never blocks for long and never fails: until
// the link is up it keeps the latest max bytes, which it sends first.
type Link struct {
	max int

	mu   sync.Mutex
	conn io.WriteCloser
	buf  []byte
}

// New makes a link that keeps up to limit bytes while it is down.
func New(limit int) *Link { return &Link{max: limit} }

func (l *Link) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil && l.send(p) {
		return len(p), nil
	}
	l.keep(p)
	return len(p), nil
}

// keep adds p to what waits for the link, dropping the oldest bytes.
func (l *Link) keep(p []byte) {
	l.buf = append(l.buf, p...)
	if over := len(l.buf) - l.max; over > 0 {
		l.buf = append(l.buf[:0], l.buf[over:]...)
	}
}

// send writes p to the link; on failure the link is down, to be dialed
// again by Run.
func (l *Link) send(p []byte) bool {
	if d, ok := l.conn.(interface{ SetWriteDeadline(time.Time) error }); ok {
		d.SetWriteDeadline(time.Now().Add(writeWait)) //nolint:errcheck // a failed deadline shows as the write failing
	}
	if _, err := l.conn.Write(p); err != nil {
		l.conn.Close()
		l.conn = nil
		return false
	}
	return true
}

// Run keeps the link up until ctx ends: it dials whenever the link is
// down, every `every`, and sends what was kept first. The host may serve
// the port a moment after the guest first asks, and again after its
// daemon restarts.
func (l *Link) Run(ctx context.Context, dial func() (io.WriteCloser, error), every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		l.mu.Lock()
		if l.conn == nil {
			if c, err := dial(); err == nil {
				l.conn = c
				if l.send(l.buf) {
					l.buf = l.buf[:0]
				}
			}
		}
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			l.mu.Lock()
			if l.conn != nil {
				l.conn.Close()
				l.conn = nil
			}
			l.mu.Unlock()
			return
		case <-t.C:
		}
	}
}
