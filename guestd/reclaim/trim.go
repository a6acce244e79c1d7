package reclaim

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/berthvm/berth/guestd/stats"
)

// TrimPolicy decides when the data disk is trimmed: once Threshold bytes
// have been freed since the lowest free space seen after the last trim. A
// trim costs a pass over the filesystem's free space, so it waits for a
// deletion worth giving back (a deleted image or volume) rather than
// following every small file.
type TrimPolicy struct {
	Threshold uint64

	low    uint64
	primed bool
}

// Next takes the filesystem's free bytes and says whether to trim now.
func (p *TrimPolicy) Next(free uint64) bool {
	if !p.primed || free < p.low {
		p.low, p.primed = free, true
		return false
	}
	return free-p.low >= p.Threshold
}

// Trimmed starts counting again from free, the free space measured before
// the trim began: blocks freed while it ran (a large file's deletion goes
// on over several journal transactions) may have been passed over, so they
// count towards the next trim.
func (p *TrimPolicy) Trimmed(free uint64) { p.low, p.primed = free, true }

// Trim trims the filesystem at Path (the data disk) when TrimPolicy says,
// checking every Interval; the host's disk file (sparse, with discards
// passed through) shrinks by what is trimmed.
type Trim struct {
	Path     string
	Interval time.Duration
	Policy   TrimPolicy
	Log      *slog.Logger
	// Quiet, when set, holds back Run's trims until it says the guest is
	// idle: a trim is a pass over the disk that a build or a test run
	// should not compete with (Now and Last do not wait).
	Quiet func() bool

	mu   sync.Mutex // held while trimming (Last waits for a trim under way) and over Policy
	last bool       // Last ran: the filesystem is about to be unmounted
}

// errLast says Last already ran.
var errLast = errors.New("the data disk had its last trim")

// Last trims for the last time, once a trim under way has ended (it holds
// the filesystem open, which would fail its unmount), and stops Run's.
func (t *Trim) Last() (uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last {
		return 0, errLast
	}
	t.last = true
	return TrimNow(t.Path)
}

// Now trims at once, for a user who just freed space and wants it back on
// the host (Reclaim space), and counts towards the next trim from there.
func (t *Trim) Now() (uint64, error) {
	free, err := freeBytes(t.Path)
	if err != nil {
		return 0, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last {
		return 0, errLast
	}
	n, err := TrimNow(t.Path)
	if err != nil {
		return 0, err
	}
	t.Log.Info("data disk trimmed", "why", "asked", "MiB", n>>20)
	t.Policy.Trimmed(free)
	return n, nil
}

// Run trims once at the start, for what an earlier boot freed and did not
// trim (a crash, a kill), then whenever enough has been freed, each time
// once the guest is quiet, until ctx ends.
func (t *Trim) Run(ctx context.Context) {
	why := "boot"
	tick := time.NewTicker(t.Interval)
	defer tick.Stop()
	for {
		free, err := freeBytes(t.Path)
		if err != nil {
			t.Log.Warn("data disk trim stops", "err", err)
			return
		}
		t.mu.Lock() // Now resets the policy too
		due := t.Policy.Next(free)
		t.mu.Unlock()
		if due && why == "" {
			why = "space freed"
		}
		if why != "" && (t.Quiet == nil || t.Quiet()) {
			t.trim(why, free)
			why = ""
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// trim trims now, logs what it gave back, and restarts the policy's count
// from free, measured before.
func (t *Trim) trim(why string, free uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last {
		return
	}
	began := time.Now()
	n, err := TrimNow(t.Path)
	if err != nil {
		t.Log.Warn("data disk trim", "why", why, "err", err)
		return
	}
	t.Log.Info("data disk trimmed", "why", why, "MiB", n>>20, "took", time.Since(began).Round(time.Millisecond))
	t.Policy.Trimmed(free)
}

// freeBytes is the free space of the filesystem at path.
func freeBytes(path string) (uint64, error) {
	u, err := stats.DiskUsage(path)
	return u.Total - u.Used, err
}
