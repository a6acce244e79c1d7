// Package diskwatch notices a guest block device that stopped answering:
// requests in flight and none completed for a while. Under emulation a
// virtio disk once lost a completion interrupt: its writes stayed in
// flight for good, the journal and the engine blocked behind them, and
// nothing above said so. The detector is a pure state machine fed samples
// of the block layer's counters; the Watcher takes the samples.
package diskwatch

import (
	"slices"
	"strings"
	"time"
)

// DefaultBound is how long a device may hold requests in flight without
// completing one before it counts as stalled. Progress is any completion,
// not the queue running empty: a disk that is slow under emulation (or
// behind a busy host) still completes something every few seconds, while
// the stall this is for completed nothing for many minutes. 30 s is the
// Linux SCSI layer's default command timeout (after which a real disk
// would be reset), a quarter of the kernel's hung-task timeout (120 s),
// and short enough that the user hears of it before giving up on a hung
// docker command.
const DefaultBound = 30 * time.Second

// Sample is the block layer's counters at one moment.
type Sample struct {
	// At is when the sample was taken; only its differences count (a
	// time.Now() keeps the monotonic clock that they use).
	At    time.Time
	Disks map[string]Counters
	// HungTasks is the kernel's count of hung-task reports so far, and
	// HungTask the latest one ("jbd2/vdb-8:215 blocked for more than 120
	// seconds").
	HungTasks uint64
	HungTask  string
}

// Stall is a device that stopped answering.
type Stall struct {
	Device string
	// Since is the last time the device was seen making progress (a
	// request completed, or none in flight).
	Since    time.Time
	InFlight uint64
	// HungTasks is how many hung-task reports the kernel made since then,
	// HungTask the latest.
	HungTasks uint64
	HungTask  string
}

// Detector finds stalled devices in a series of samples.
type Detector struct {
	// Bound is how long without progress makes a stall (DefaultBound when
	// zero).
	Bound time.Duration
	disks map[string]*disk
}

type disk struct {
	completed uint64
	inFlight  uint64
	progress  time.Time // last seen making progress (or idle)
	hungAt    uint64    // the hung-task count then
}

// Observe takes the next sample and returns the devices stalled in it,
// longest stalled first; none while every device makes progress.
func (d *Detector) Observe(s Sample) []Stall {
	bound := d.Bound
	if bound <= 0 {
		bound = DefaultBound
	}
	if d.disks == nil {
		d.disks = map[string]*disk{}
	}
	for name := range d.disks {
		if _, ok := s.Disks[name]; !ok {
			delete(d.disks, name) // the device went away
		}
	}
	var stalls []Stall
	for name, c := range s.Disks {
		st, ok := d.disks[name]
		if !ok {
			d.disks[name] = &disk{completed: c.Completed, inFlight: c.InFlight, progress: s.At, hungAt: s.HungTasks}
			continue
		}
		// An empty queue is progress, and so is one that was empty at the
		// last sample: its requests came since. A count that goes back is
		// a new device under an old name.
		if c.InFlight == 0 || st.inFlight == 0 || c.Completed != st.completed {
			st.progress, st.hungAt = s.At, s.HungTasks
		}
		st.completed, st.inFlight = c.Completed, c.InFlight
		if c.InFlight > 0 && s.At.Sub(st.progress) >= bound {
			stall := Stall{Device: name, Since: st.progress, InFlight: c.InFlight}
			if s.HungTasks > st.hungAt {
				stall.HungTasks, stall.HungTask = s.HungTasks-st.hungAt, s.HungTask
			}
			stalls = append(stalls, stall)
		}
	}
	slices.SortFunc(stalls, func(a, b Stall) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(a.Device, b.Device)
	})
	return stalls
}
