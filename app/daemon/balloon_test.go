package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/vmhost"
)

// balloonBackend is a fake backend whose machine has a balloon (as vz's).
type balloonBackend struct {
	recordingBackend
	targets chan uint64
	guest   *fakeGuest // its stats follow the balloon
}

func (b *balloonBackend) SetMemoryTarget(ctx context.Context, name string, bytes uint64) error {
	if st, _ := b.State(ctx, name); st != vmhost.Running {
		b.targets <- 0 // the test fails on it
		return nil
	}
	b.targets <- bytes
	if b.guest != nil {
		b.guest.mu.Lock()
		b.guest.stats = b.guestStats(bytes, b.guest.stats.MemoryDetail.Pressure)
		b.guest.mu.Unlock()
	}
	return nil
}

// guestStats is what a guest using 300 MiB reports behind a balloon of
// target bytes: its kernel keeps 100 MiB from MemTotal.
func (b *balloonBackend) guestStats(target uint64, pressure float64) protocol.Stats {
	total := target - 100<<20
	return protocol.Stats{
		Memory:       protocol.Usage{Total: total, Used: 300 << 20},
		MemoryDetail: &protocol.MemoryDetail{Available: total - 300<<20, Pressure: pressure, HasPressure: true},
	}
}

// The daemon sizes a Ballooner's guest from the guest API's stats: down
// while the guest is calm, back to the configured memory at once when it
// comes under pressure.
func TestDaemonDrivesTheBalloon(t *testing.T) {
	b := &balloonBackend{targets: make(chan uint64, 100)}
	var _ vmhost.Ballooner = b
	d, c := serveDaemon(t, b)
	d.balloonEvery = 5 * time.Millisecond
	g := startFakeGuest(t, &b.bootOnlyBackend, protocol.Ready)
	d.dialGuest = g.dial
	// The default settings' memory, which the balloon starts at.
	const full uint64 = 1024 << 20
	g.stats = b.guestStats(full, 0)
	b.guest = g
	if last := startAndFollow(t, c, nil); last.State != control.Running {
		t.Fatalf("the start ended on %+v", last)
	}
	spec, _ := b.booted()
	if uint64(spec.MemoryMiB)<<20 != full {
		t.Fatalf("booted with %d MiB, the test expects the default %d MiB", spec.MemoryMiB, full>>20)
	}

	next := func() uint64 {
		t.Helper()
		select {
		case v := <-b.targets:
			if v == 0 {
				t.Fatal("a target was set on a machine that does not run")
			}
			return v
		case <-time.After(20 * time.Second):
			t.Fatal("no target set")
			return 0
		}
	}
	// One step of 256 MiB down; then it rests, as what the guest uses
	// (300 MiB) plus 256 MiB of headroom plus the 100 MiB its kernel keeps
	// from MemTotal (656 MiB) is within 128 MiB of 768 MiB.
	last := next()
	if last != full-256<<20 {
		t.Fatalf("a calm guest's first target is %d MiB, want one step down, 768 MiB", last>>20)
	}
	select {
	case v := <-b.targets:
		t.Fatalf("the target moved on from %d MiB to %d MiB on a guest at rest", last>>20, v>>20)
	case <-time.After(300 * time.Millisecond): // 60 samples
	}

	g.mu.Lock()
	g.stats = b.guestStats(last, 8)
	g.mu.Unlock()
	if v := next(); v != full {
		t.Fatalf("under pressure the target is %d MiB, want all %d MiB at once", v>>20, full>>20)
	}
}
