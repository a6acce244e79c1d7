package daemon

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthvm/berth/vmhost"
)

// fakeTime is the host's clocks and a guest's, moved by the test.
type fakeTime struct {
	mu     sync.Mutex
	wall   time.Time
	mono   time.Duration
	offset time.Duration   // the guest's clock against the host's wall clock
	down   bool            // the guest API does not answer
	slow   time.Duration   // how long the guest API takes to fail when down
	slips  []time.Duration // how far the next steps miss (a busy guest)
	reads  int
	sets   chan time.Duration // the steps the guest made
}

func newFakeTime() *fakeTime {
	return &fakeTime{wall: time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC), sets: make(chan time.Duration, 8)}
}

func (f *fakeTime) now() (time.Time, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wall, f.mono
}

// pass moves the host's wall and monotonic clocks; the guest's runs with
// the wall clock unless the guest is frozen (its offset then grows).
func (f *fakeTime) pass(wall, mono time.Duration, guestFrozen bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wall = f.wall.Add(wall)
	f.mono += mono
	if guestFrozen {
		f.offset -= wall
	}
}

func (f *fakeTime) set(offset time.Duration, down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.offset, f.down = offset, down
}

func (f *fakeTime) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

func (f *fakeTime) Clock(ctx context.Context) (time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		f.wall, f.mono = f.wall.Add(f.slow), f.mono+f.slow
		return time.Time{}, errors.New("i/o timeout")
	}
	f.reads++
	return f.wall.Add(f.offset), nil
}

func (f *fakeTime) StepClock(ctx context.Context, d time.Duration) (time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.offset += d
	if len(f.slips) > 0 {
		f.offset += f.slips[0]
		f.slips = f.slips[1:]
	}
	f.sets <- d
	return f.wall.Add(f.offset), nil
}

// clockRig runs a clockSync on a fakeTime. Its ticks channel is
// unbuffered: once a tick is sent, whatever the previous one caused is done.
type clockRig struct {
	*fakeTime
	c     *clockSync
	ticks chan time.Time
}

func newClockRig(t *testing.T, offset time.Duration, down bool) *clockRig {
	f := newFakeTime()
	f.set(offset, down)
	r := &clockRig{fakeTime: f, c: newClockSync(f, f.now, slog.New(slog.DiscardHandler)), ticks: make(chan time.Time)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		r.c.run(ctx, r.ticks)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	r.ticks <- time.Time{} // no time passes: the boot sync is done
	return r
}

// tick is one second of normal time, and waits until the previous tick's
// work is done.
func (r *clockRig) tick() {
	r.pass(time.Second, time.Second, false)
	r.ticks <- time.Time{}
}

func (r *clockRig) wantStep(t *testing.T, want time.Duration) {
	t.Helper()
	select {
	case got := <-r.sets:
		if got != want {
			t.Fatalf("guest stepped %v, want %v", got, want)
		}
	case <-time.After(5 * time.Second): // a hang guard, not a timing
		t.Fatalf("the guest's clock was not set (want a step of %v)", want)
	}
}

func (r *clockRig) wantNoStep(t *testing.T) {
	t.Helper()
	r.tick() // the previous tick's work is done
	select {
	case got := <-r.sets:
		t.Fatalf("guest stepped %v, want no step", got)
	default:
	}
}

func TestClockSyncAtBootOnceTheGuestAnswers(t *testing.T) {
	r := newClockRig(t, -3*time.Second, true)
	r.tick()
	r.tick()
	r.set(-3*time.Second, false)
	r.tick()
	r.wantStep(t, 3*time.Second)
	r.wantNoStep(t)
}

// A guest that takes seconds to fail to answer while it boots holds the
// loop: the tick after is not late, and the boot's sync stays the boot's.
func TestClockSyncBootWaitIsNoLateTick(t *testing.T) {
	f := newFakeTime()
	f.set(40*time.Millisecond, true)
	f.slow = clockCallTimeout
	var logs lockedBuffer
	c := newClockSync(f, f.now, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ticks := make(chan time.Time)
	go c.run(ctx, ticks)
	for i := 0; i < 3; i++ {
		f.pass(time.Second, time.Second, false)
		ticks <- time.Time{}
	}
	f.set(40*time.Millisecond, false)
	f.pass(time.Second, time.Second, false)
	ticks <- time.Time{}
	ticks <- time.Time{} // the sync after the previous tick is done
	if out := logs.String(); !strings.Contains(out, `msg="the guest's clock is on time" why=boot`) || strings.Contains(out, "late") {
		t.Fatalf("want the boot's sync and no late tick; log:\n%s", out)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestClockSyncLeavesAGuestOnTime(t *testing.T) {
	r := newClockRig(t, 40*time.Millisecond, false)
	r.tick()
	r.wantNoStep(t)
	if n := r.readCount(); n != 1 {
		t.Fatalf("the guest's clock was read %d times, want once (at boot)", n)
	}
}

func TestClockSyncAfterHostSleep(t *testing.T) {
	r := newClockRig(t, 0, false)
	r.tick()
	// The host sleeps an hour: its wall clock moves on, its monotonic
	// clock and the VM do not.
	r.pass(time.Hour, 0, true)
	r.tick()
	r.wantStep(t, time.Hour)
	r.wantNoStep(t)
}

// On Windows the monotonic clock runs on while the host sleeps: the sleep
// shows only as a tick that comes late. (A sleep longer than driftCheck
// also counts as the periodic check's time.)
func TestClockSyncAfterHostSleepMonotonicRunsOn(t *testing.T) {
	r := newClockRig(t, 0, false)
	r.tick()
	r.pass(30*time.Second, 30*time.Second, true)
	r.ticks <- time.Time{}
	r.wantStep(t, 30*time.Second)
	r.wantNoStep(t)
}

func TestClockSyncAfterResume(t *testing.T) {
	r := newClockRig(t, 0, false)
	r.tick()
	r.c.vmState(vmhost.Suspended)
	reads := r.readCount()
	// Time passes for the host but not for the suspended VM, whose API
	// does not answer; its clock is not even read.
	for i := 0; i < 70; i++ {
		r.pass(time.Second, time.Second, true)
		r.ticks <- time.Time{}
	}
	r.tick()
	if n := r.readCount(); n != reads {
		t.Fatalf("the suspended guest's clock was read %d times", n-reads)
	}
	r.c.vmState(vmhost.Running)
	r.wantStep(t, 70*time.Second)
}

func TestClockSyncPeriodicCheck(t *testing.T) {
	r := newClockRig(t, 0, false)
	r.tick()
	r.set(-2*time.Second, false) // the guest's clock drifted
	for i := 0; i < int(driftCheck/time.Second)-3; i++ {
		r.tick()
	}
	r.wantNoStep(t)
	r.tick()
	r.wantStep(t, 2*time.Second)
}

func TestClockSyncHostClockSetBack(t *testing.T) {
	r := newClockRig(t, 0, false)
	r.tick()
	r.pass(-10*time.Minute, time.Second, false)
	r.set(10*time.Minute, false) // the guest still has the old time
	r.ticks <- time.Time{}
	r.wantStep(t, -10*time.Minute)
}

// A step that misses (the offset was measured over a slow round trip) is
// followed by another.
func TestClockSyncStepsAgainWhenAStepMisses(t *testing.T) {
	r := newClockRig(t, 0, false)
	r.mu.Lock()
	r.slips = []time.Duration{-800 * time.Millisecond}
	r.mu.Unlock()
	r.c.vmState(vmhost.Suspended)
	r.pass(70*time.Second, 70*time.Second, true)
	r.c.vmState(vmhost.Running)
	r.wantStep(t, 70*time.Second)
	r.wantStep(t, 800*time.Millisecond)
	r.wantNoStep(t)
}
