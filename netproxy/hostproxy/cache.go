package hostproxy

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Cached asks src at most once per ttl (scutil and the registry cost a
// process or a syscall per connection otherwise), and logs each change and
// each failure once.
type Cached struct {
	src Source
	ttl time.Duration
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	at      time.Time
	cur     Settings
	lastErr string
	seen    bool
}

// NewCached wraps src.
func NewCached(src Source, ttl time.Duration, log *slog.Logger) *Cached {
	return &Cached{src: src, ttl: ttl, log: log, now: time.Now}
}

// Current gives the settings, read again when older than ttl. A failed or
// unparsable read keeps no proxy (direct) and says so in the log.
func (c *Cached) Current(ctx context.Context) (Settings, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen && c.now().Sub(c.at) < c.ttl {
		return c.cur, nil
	}
	s, err := c.src.Current(ctx)
	if err == nil {
		err = s.Check()
	}
	c.at, c.seen = c.now(), true
	if err != nil {
		if err.Error() != c.lastErr {
			c.log.Warn("the host's proxy setting is unusable; connecting directly", "err", err)
		}
		c.lastErr = err.Error()
		c.cur = Settings{Source: s.Source}
		return c.cur, nil
	}
	c.lastErr = ""
	if s != c.cur {
		c.log.Info("host proxy settings", "source", s.Source, "http", s.HTTP, "https", s.HTTPS, "no_proxy", s.NoProxy)
		if s.PAC != "" {
			c.log.Warn("the host names a proxy auto-config (PAC) script; Berth does not evaluate PAC", "url", s.PAC)
		}
	}
	c.cur = s
	return s, nil
}
