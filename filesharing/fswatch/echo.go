package fswatch

import (
	"sync"
	"time"
)

// EchoTTL is how long Berth remembers a path it made the guest touch: the
// guest's touch reaches the host through the share as a change of the
// path's mtime (to the value it already has) within this time, even on a
// slow, emulated machine.
const EchoTTL = 5 * time.Second

// Echoes remembers the paths Berth had the guest touch and the mtime it
// set, so that the host's events for those touches are not sent back as
// new changes. A real change after the touch gives the path a new mtime,
// so it is not mistaken for an echo.
type Echoes struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]echo
}

type echo struct {
	mtime   int64
	expires time.Time
}

// NewEchoes remembers touches for ttl (0: EchoTTL).
func NewEchoes(ttl time.Duration) *Echoes {
	if ttl == 0 {
		ttl = EchoTTL
	}
	return &Echoes{ttl: ttl, m: map[string]echo{}}
}

// Touched records that path was sent with mtime (Unix nanoseconds) at now.
func (e *Echoes) Touched(path string, mtime int64, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[path] = echo{mtime, now.Add(e.ttl)}
}

// Echo says whether a change of path that now has mtime is Berth's own
// touch coming back.
func (e *Echoes) Echo(path string, mtime int64, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.m[path]
	return ok && t.mtime == mtime && now.Before(t.expires)
}

// Expire forgets touches older than the TTL; the memory holds at most
// what was sent in the last TTL.
func (e *Echoes) Expire(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for p, t := range e.m {
		if !now.Before(t.expires) {
			delete(e.m, p)
		}
	}
}

// Len is how many touches are remembered.
func (e *Echoes) Len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.m)
}
