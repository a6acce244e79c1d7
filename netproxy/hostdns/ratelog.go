package hostdns

import (
	"log/slog"
	"sync"
	"time"
)

// rateLog logs a line per key at most once per interval, so that a client
// or upstream sending garbage cannot flood the daemon's log; the next line
// says how many were left out.
type rateLog struct {
	log   *slog.Logger
	every time.Duration
	mu    sync.Mutex
	last  map[string]time.Time
	quiet map[string]int
}

func newRateLog(log *slog.Logger, every time.Duration) *rateLog {
	return &rateLog{log: log, every: every, last: map[string]time.Time{}, quiet: map[string]int{}}
}

func (r *rateLog) warn(key, msg string, args ...any) {
	now := time.Now()
	r.mu.Lock()
	if t, ok := r.last[key]; ok && now.Sub(t) < r.every {
		r.quiet[key]++
		r.mu.Unlock()
		return
	}
	if len(r.last) > 1024 { // many distinct keys (names): forget old ones
		clear(r.last)
		clear(r.quiet)
	}
	n := r.quiet[key]
	r.last[key], r.quiet[key] = now, 0
	r.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	r.log.Warn(msg, args...)
}
