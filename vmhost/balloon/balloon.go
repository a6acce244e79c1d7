// Package balloon sizes a guest's memory balloon from what the guest uses,
// for hypervisors that leave the size to their user (Apple's
// Virtualization framework has only the traditional virtio balloon: no
// free page reporting, and nothing moves the balloon by itself).
//
// The target is what the guest cannot drop (Stats.Memory.Used: MemTotal
// less MemAvailable, so the page cache is not counted) plus headroom. It
// grows at once, to the full configured size, at the first sign of need:
// a guest short of memory stalls its containers, while memory the host
// lends a little longer costs nothing but the host's slack. It shrinks in
// steps, only after the guest has been calm for a while, and only by more
// than a margin, so that a busy guest is not squeezed and the balloon does
// not hunt.
//
// The policy is plain Go with no clock: Next takes one sample at a time,
// and Run drives it on a ticker. Linux's libvirt backend does not use it:
// there the guest reports free pages itself (free page reporting) and
// guestd drops idle page cache (guestd/reclaim).
package balloon

import (
	"context"
	"log/slog"
	"time"

	"github.com/berthvm/berth/guestd/protocol"
)

const mib = 1 << 20

// Policy is how a Controller sizes the balloon. Sizes are in bytes.
type Policy struct {
	Max   uint64 // the configured memory: the balloon empty
	Floor uint64 // the smallest target ever set
	// Headroom above the used memory: the larger of MinHeadroom and
	// HeadroomPercent of the used memory.
	MinHeadroom     uint64
	HeadroomPercent uint64
	// Shrinking: after CalmSamples calm samples in a row, by at most Step
	// per sample, and only when the wanted size is more than Hysteresis
	// below the target.
	CalmSamples int
	Step        uint64
	Hysteresis  uint64
	// MaxPressure is the memory pressure (PSI some avg10, percent) above
	// which the guest is short of memory.
	MaxPressure float64
	// MaxMissed samples the guest did not answer in a row make the target
	// Max: a guest thrashing for memory may be too slow to answer.
	MaxMissed int
}

// DefaultPolicy is the policy for a guest of maxBytes: at least 512 MiB
// (or maxBytes, when smaller) stays, 256 MiB or 25 % above the used
// memory; shrinking starts after 30 s of calm at a 5 s sample, by
// 256 MiB a sample, when at least 128 MiB would be given back.
func DefaultPolicy(maxBytes uint64) Policy {
	return Policy{
		Max: maxBytes, Floor: min(512*mib, maxBytes),
		MinHeadroom: 256 * mib, HeadroomPercent: 25,
		CalmSamples: 6, Step: 256 * mib, Hysteresis: 128 * mib,
		MaxPressure: 0.5, MaxMissed: 2,
	}
}

// Interval is how often Run samples the guest; SampleTimeout is how long
// it waits for an answer (guestd's stats take 200 ms to sample the CPU).
const (
	Interval      = 5 * time.Second
	SampleTimeout = 3 * time.Second
)

// Controller holds the balloon's target between samples.
type Controller struct {
	p      Policy
	target uint64
	calm   int
	missed int
	// overhead is the configured memory the guest never sees in MemTotal
	// (the kernel's image and reservations), measured while the balloon
	// has been empty since boot: the target must cover it on top of what
	// the guest uses.
	overhead uint64
	shrunk   bool
}

// New returns a controller whose target starts at p.Max: the balloon is
// empty when a machine boots.
func New(p Policy) *Controller {
	p.Floor = min(p.Floor, p.Max)
	return &Controller{p: p, target: p.Max}
}

// Target is the current target.
func (c *Controller) Target() uint64 { return c.target }

// headroom is what the guest keeps above used.
func (c *Controller) headroom(used uint64) uint64 {
	return max(c.p.MinHeadroom, used*c.p.HeadroomPercent/100)
}

// want is used plus headroom plus the overhead, in whole MiB, within
// [Floor, Max].
func (c *Controller) want(used uint64) uint64 {
	w := used + c.headroom(used) + c.overhead
	w = (w + mib - 1) &^ (mib - 1)
	return min(max(w, c.p.Floor), c.p.Max)
}

// Next takes a sample of the guest and returns the new target, and
// whether it changed.
//
// The guest is short of memory when its pressure rises above MaxPressure
// or it has less than half the headroom available; then the target is
// Max at once. Half, not all of it: right after a shrink the guest has
// the headroom available and no more, so any page it touched would empty
// the balloon.
func (c *Controller) Next(s protocol.Stats) (uint64, bool) {
	c.missed = 0
	d := s.MemoryDetail
	if d == nil || s.Memory.Total == 0 {
		// A guestd that predates the detail: nothing to size by.
		c.calm = 0
		return c.set(c.p.Max)
	}
	if !c.shrunk && s.Memory.Total < c.p.Max {
		c.overhead = min(c.p.Max-s.Memory.Total, c.p.Max/4)
	}
	used := s.Memory.Used
	want := c.want(used)
	short := d.HasPressure && d.Pressure > c.p.MaxPressure
	if short || d.Available < c.headroom(used)/2 {
		c.calm = 0
		return c.set(c.p.Max)
	}
	c.calm++
	if c.calm < c.p.CalmSamples || want+c.p.Hysteresis >= c.target {
		return c.target, false
	}
	c.shrunk = true
	return c.set(max(want, c.target-min(c.p.Step, c.target)))
}

// Missed notes a sample the guest did not answer.
func (c *Controller) Missed() (uint64, bool) {
	c.calm = 0
	c.missed++
	if c.missed >= c.p.MaxMissed {
		return c.set(c.p.Max)
	}
	return c.target, false
}

func (c *Controller) set(t uint64) (uint64, bool) {
	changed := t != c.target
	c.target = t
	return t, changed
}

// Run samples the guest every interval until ctx ends and sets the
// target whenever it differs from the last one set. A target the
// hypervisor refuses is asked for again at the next sample, and logged
// once.
func Run(ctx context.Context, c *Controller, interval time.Duration, sample func(context.Context) (protocol.Stats, error), set func(context.Context, uint64) error, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	applied, refused := c.Target(), uint64(0) // the balloon is empty at boot
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sctx, cancel := context.WithTimeout(ctx, SampleTimeout)
		s, err := sample(sctx)
		cancel()
		var target uint64
		if err != nil {
			target, _ = c.Missed()
		} else {
			target, _ = c.Next(s)
		}
		if target == applied {
			continue
		}
		if err := set(ctx, target); err != nil {
			if ctx.Err() == nil && target != refused {
				log.Warn("memory balloon: the hypervisor refused the target", "target_mib", target/mib, "err", err)
				refused = target
			}
			continue
		}
		applied, refused = target, 0
		log.Debug("memory balloon", "target_mib", target/mib)
	}
}
