package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/guestd/protocol"
)

// When a disk of the VM stops answering (the guest's watcher reports it in
// its health: guestd/diskwatch), the engine blocks on it: docker commands
// hang for ever and containers whose processes are gone still show Up. The
// daemon polls the guest's health for it, logs it once, reports it in the
// status, answers docker API requests itself (503) while it lasts (and
// those already waiting on the engine when it begins), and makes a stop a
// forced one.
const (
	// stallPoll is how often the guest is asked; its watcher samples every
	// 5 s and reports after 30 s without progress.
	stallPoll        = 5 * time.Second
	stallPollTimeout = 3 * time.Second
	// pingWait bounds the wait for the engine's answer to /_ping and
	// /version while a disk stalls: the engine answers them from memory.
	pingWait = 5 * time.Second
)

// stallWatch keeps the guest's latest word on a disk stall.
type stallWatch struct {
	log   *slog.Logger
	now   func() time.Time
	every time.Duration // stallPoll

	mu      sync.Mutex
	cur     *protocol.DiskStall
	stalled func() // called when a stall begins
}

// onStall sets what is called when a stall begins.
func (w *stallWatch) onStall(f func()) {
	w.mu.Lock()
	w.stalled = f
	w.mu.Unlock()
}

func newStallWatch(log *slog.Logger) *stallWatch {
	return &stallWatch{log: log, now: time.Now, every: stallPoll}
}

// set records the guest's report (nil: no stall; a nil watch ignores it), logging a stall once when
// it begins (or moves to another device) and once when it ends.
func (w *stallWatch) set(s *protocol.DiskStall) {
	if w == nil {
		return
	}
	w.mu.Lock()
	prev, stalled := w.cur, w.stalled
	w.cur = s
	w.mu.Unlock()
	if s != nil && prev == nil && stalled != nil {
		stalled()
	}
	switch {
	case s != nil && (prev == nil || prev.Device != s.Device):
		msg := "the VM's disk stopped answering; docker API requests are refused until it answers again"
		if s.Stacked {
			msg = "a device made in the VM (loop or device-mapper) stopped answering; docker API requests still go to the engine"
		}
		w.log.Error(msg, "device", s.Device, "data_disk", s.DataDisk, "since", s.Since, "in_flight", s.InFlight,
			"hung_tasks", s.HungTasks, "hung_task", s.HungTask, "others", s.Others)
	case s == nil && prev != nil:
		w.log.Info("the VM's disk answers again", "device", prev.Device, "stalled_for", w.now().Sub(prev.Since).Round(time.Second))
	}
}

// get returns the stall reported last, nil for none (or no watch).
func (w *stallWatch) get() *protocol.DiskStall {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cur
}

// poll asks health for the guest's report every w.every until ctx ends.
// A guest that does not answer leaves the last report as it was.
func (w *stallWatch) poll(ctx context.Context, health func(context.Context) (protocol.Health, error)) {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		hctx, cancel := context.WithTimeout(ctx, stallPollTimeout)
		h, err := health(hctx)
		cancel()
		if err == nil {
			w.set(h.DiskStall)
		}
	}
}

// pingPath is what the engine answers without its disk.
var pingPath = regexp.MustCompile(`^(/v[0-9]+(\.[0-9]+)*)?/(_ping|version)$`)

// gate is the docker socket's apifilter.Gate: while a disk of the VM
// (not a loop or device-mapper device made in it) stalls, requests are
// answered 503 with what happened and what to do, except
// /_ping and /version, which go to the engine with a bounded wait.
func (w *stallWatch) gate(req *http.Request) (time.Duration, error) {
	s := w.get()
	if s == nil || s.Stacked {
		// A loop or device-mapper device made in the VM hangs what uses
		// it, not necessarily the engine.
		return 0, nil
	}
	reason := errors.New(control.DiskStallRefusal(s, w.now()))
	if pingPath.MatchString(req.URL.Path) {
		return pingWait, reason
	}
	return 0, reason
}
