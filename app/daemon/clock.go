package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/berthvm/berth/vmhost"
)

// A VM's clock stands still while the VM is paused or the host sleeps, so
// afterwards the guest's wall clock is behind by that long: TLS fails with
// "certificate not yet valid" and make trusts the wrong timestamps. The
// daemon sets the guest's clock from the host's (never the other way round:
// the guest is no time source for the host) as soon as the guest API
// answers at boot, when the host's wall clock jumps against its monotonic
// clock (the host slept), when the hypervisor reports the VM running again
// after a suspend, and, as a backstop, when a periodic check finds the
// guest off.
const (
	clockTick = time.Second
	// sleepJump is how far the wall clock may move against the monotonic
	// one between two ticks before it counts as a sleep (or a host clock
	// change), and how late a tick may come. Go's monotonic clock stops
	// while Linux and macOS sleep, and runs on while Windows sleeps.
	sleepJump = 2 * time.Second
	// driftCheck is how often the guest's clock is measured anyway: one
	// small request.
	driftCheck = time.Minute
	// maxOffset is how far off the guest may be before its clock is
	// stepped: well above the guest API's round trip under emulation (tens
	// of milliseconds), so a measurement's error never causes a step.
	maxOffset = 250 * time.Millisecond
	// maxSteps bounds the steps of one sync: each is as right as the
	// round trip that measured the offset is short, and a guest that has
	// just resumed under emulation can be slow to answer at first.
	maxSteps         = 3
	clockCallTimeout = 3 * time.Second
)

// guestClock is the part of the guest API the sync uses.
type guestClock interface {
	Clock(ctx context.Context) (time.Time, error)
	StepClock(ctx context.Context, d time.Duration) (time.Time, error)
}

// hostClock reads the host's wall clock and a monotonic clock that stops
// while the host sleeps.
type hostClock func() (wall time.Time, mono time.Duration)

func systemClock() hostClock {
	base := time.Now()
	return func() (time.Time, time.Duration) {
		now := time.Now()
		return now.Round(0), now.Sub(base)
	}
}

// clockSync keeps one guest's clock with the host's.
type clockSync struct {
	guest guestClock
	now   hostClock
	log   *slog.Logger
	kick  chan struct{} // the VM runs again after a pause

	mu     sync.Mutex
	paused bool // a paused guest cannot answer: nothing is asked of it
}

func newClockSync(g guestClock, now hostClock, log *slog.Logger) *clockSync {
	return &clockSync{guest: g, now: now, log: log, kick: make(chan struct{}, 1)}
}

// vmState hears the hypervisor's state changes.
func (c *clockSync) vmState(st vmhost.State) {
	c.mu.Lock()
	resumed := c.paused && st == vmhost.Running
	c.paused = st != vmhost.Running
	c.mu.Unlock()
	if resumed {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

func (c *clockSync) isPaused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused
}

// Run keeps the guest's clock until ctx ends.
func (c *clockSync) Run(ctx context.Context) {
	t := time.NewTicker(clockTick)
	defer t.Stop()
	c.run(ctx, t.C)
}

// run syncs at once (the guest starts from the VM's RTC, to the second at
// best), then whenever a tick or a resume says so. A sync that fails (the
// guest API is not up yet) is tried again at the next tick.
func (c *clockSync) run(ctx context.Context, ticks <-chan time.Time) {
	why := "boot"
	warned := false
	prevWall, prevMono := c.now()
	lastCheck := prevMono
	for {
		if why != "" && !c.isPaused() {
			if err := c.sync(ctx, why); err != nil {
				if why != "boot" && !warned {
					c.log.Warn("could not set the guest's clock; trying again every second", "why", why, "err", err)
					warned = true
				}
			} else {
				why, warned = "", false
				_, lastCheck = c.now()
			}
		}
		// A sync that waits for a guest that does not answer holds the
		// loop up to seconds: a tick is late only against the wait.
		_, idleSince := c.now()
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
			why = "the VM resumed"
		case <-ticks:
			wall, mono := c.now()
			if jump := wall.Sub(prevWall) - (mono - prevMono); jump.Abs() > sleepJump {
				why = fmt.Sprintf("the host's clock jumped %v (the host slept, or its clock was set)", jump.Round(time.Millisecond))
			} else if gap := mono - max(prevMono, idleSince); gap > clockTick+sleepJump {
				// Windows' monotonic clock runs on while the host sleeps:
				// there a sleep shows as a late tick. So does a daemon
				// starved of CPU, which costs one needless measurement.
				why = fmt.Sprintf("a tick came %v late (the host slept, or the daemon was stalled)", (gap - clockTick).Round(time.Millisecond))
			} else if why == "" && mono-lastCheck >= driftCheck {
				why = "periodic check"
			}
			prevWall, prevMono = wall, mono
		}
	}
}

// sync measures the guest's offset and, while it is off, steps its clock
// by the offset and measures again.
func (c *clockSync) sync(ctx context.Context, why string) error {
	off, rtt, err := c.offset(ctx)
	if err != nil {
		return err
	}
	if off.Abs() < maxOffset {
		// Once a boot is worth a line: what the guest's clock was worth
		// before any step of the host's.
		level := slog.LevelDebug
		if why == "boot" {
			level = slog.LevelInfo
		}
		c.log.Log(ctx, level, "the guest's clock is on time", "why", why, "offset", off.Round(time.Millisecond), "rtt", rtt.Round(time.Millisecond))
		return nil
	}
	first, step := off, time.Duration(0)
	for i := 0; i < maxSteps && off.Abs() >= maxOffset; i++ {
		sctx, cancel := context.WithTimeout(ctx, clockCallTimeout)
		_, err := c.guest.StepClock(sctx, -off)
		cancel()
		if err != nil {
			return fmt.Errorf("step the guest's clock by %v: %w", -off, err)
		}
		step -= off
		if off, rtt, err = c.offset(ctx); err != nil {
			return err
		}
	}
	ms := time.Millisecond
	c.log.Info("set the guest's clock from the host's", "why", why,
		"offset", first.Round(ms), "step", step.Round(ms), "offset_after", off.Round(ms), "rtt", rtt.Round(ms))
	if off.Abs() >= maxOffset {
		return fmt.Errorf("the guest's clock is still %v off after %d steps", off.Round(ms), maxSteps)
	}
	return nil
}

// offset measures how far the guest's clock is ahead of the host's
// (negative: behind), against the host's time halfway through the round
// trip: right to within half the round trip.
func (c *clockSync) offset(ctx context.Context) (off, rtt time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, clockCallTimeout)
	defer cancel()
	wall, m0 := c.now()
	g, err := c.guest.Clock(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("read the guest's clock: %w", err)
	}
	_, m1 := c.now()
	rtt = m1 - m0
	return g.Sub(wall.Add(rtt / 2)), rtt, nil
}
