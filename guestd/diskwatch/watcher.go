package diskwatch

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// DefaultInterval is how often the Watcher samples: a few reads of sysfs,
// cheap next to the bound it serves.
const DefaultInterval = 5 * time.Second

// Watcher samples the block devices and keeps the detector's verdict.
type Watcher struct {
	Sysfs Sysfs
	// HungCountPath is the kernel's hung-task count
	// (/proc/sys/kernel/hung_task_detect_count); where it is missing, Hung
	// is read as it is (fed from the kernel log by FollowKmsg).
	HungCountPath string
	Hung          *HungTasks
	Detector      Detector
	Interval      time.Duration // DefaultInterval when zero
	Log           *slog.Logger

	mu     sync.Mutex
	stalls []Stall
	failed bool // the last sample failed (logged once)
}

// Stalls returns the devices stalled at the last sample.
func (w *Watcher) Stalls() []Stall {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.stalls)
}

// Run samples until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	iv := w.Interval
	if iv <= 0 {
		iv = DefaultInterval
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		w.Sample(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sample takes one sample at now and logs what changed.
func (w *Watcher) Sample(now time.Time) {
	disks, err := w.Sysfs.Read()
	if err != nil {
		w.mu.Lock()
		first := !w.failed
		w.failed = true
		w.mu.Unlock()
		if first {
			w.Log.Warn("cannot read the block devices' counters; disk stalls go unnoticed until this works", "err", err)
		}
		return
	}
	s := Sample{At: now, Disks: disks}
	if w.Hung != nil {
		if w.HungCountPath != "" {
			if n, ok := ReadCount(w.HungCountPath); ok {
				w.Hung.Set(n)
			}
		}
		s.HungTasks, s.HungTask = w.Hung.Get()
	}
	stalls := w.Detector.Observe(s)
	w.mu.Lock()
	before := w.stalls
	w.stalls, w.failed = stalls, false
	w.mu.Unlock()
	for _, st := range stalls {
		if !slices.ContainsFunc(before, func(b Stall) bool { return b.Device == st.Device }) {
			w.Log.Error("a disk stopped answering: requests in flight and none completed",
				"device", st.Device, "since", st.Since.Format(time.RFC3339), "in_flight", st.InFlight,
				"hung_tasks", st.HungTasks, "hung_task", st.HungTask)
		}
	}
	for _, b := range before {
		if !slices.ContainsFunc(stalls, func(st Stall) bool { return b.Device == st.Device }) {
			w.Log.Info("the disk answers again (or is gone)", "device", b.Device, "stalled_for", now.Sub(b.Since).Round(time.Second))
		}
	}
}
