package balloon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/berthvm/berth/guestd/protocol"
)

const gib = 1 << 30

// sample is a guest of total bytes using used, with avail available and
// pressure p.
func sample(total, used, avail uint64, p float64) protocol.Stats {
	return protocol.Stats{
		Memory:       protocol.Usage{Total: total, Used: used},
		MemoryDetail: &protocol.MemoryDetail{Available: avail, Pressure: p, HasPressure: true},
	}
}

// calmed is a controller for an 8 GiB guest that has seen n calm samples
// of a guest using 1 GiB, its balloon empty.
func calmed(n int) *Controller {
	c := New(DefaultPolicy(8 * gib))
	for range n {
		c.Next(sample(8*gib, gib, 7*gib, 0))
	}
	return c
}

func TestNext(t *testing.T) {
	for _, tc := range []struct {
		name   string
		c      *Controller
		s      protocol.Stats
		want   uint64
		change bool
	}{
		{"calm, not yet long enough", calmed(4), sample(8*gib, gib, 7*gib, 0), 8 * gib, false},
		{"calm long enough: one step down", calmed(5), sample(8*gib, gib, 7*gib, 0), 8*gib - 256*mib, true},
		{"pressure keeps it full", calmed(5), sample(8*gib, gib, 7*gib, 0.6), 8 * gib, false},
		{"pressure at the limit is calm", calmed(5), sample(8*gib, gib, 7*gib, 0.5), 8*gib - 256*mib, true},
		{"no PSI in the guest: available decides", calmed(5), protocol.Stats{
			Memory: protocol.Usage{Total: 8 * gib, Used: gib}, MemoryDetail: &protocol.MemoryDetail{Available: 7 * gib, Pressure: 50},
		}, 8*gib - 256*mib, true},
		{"a guestd without the detail: full", calmed(5), protocol.Stats{Memory: protocol.Usage{Total: 8 * gib, Used: gib}}, 8 * gib, false},
		{"within the hysteresis of the target: stays", calmed(5), sample(8*gib, 6500*mib, 1692*mib, 0), 8 * gib, false},
		{"just beyond the hysteresis: shrinks", calmed(5), sample(8*gib, 6400*mib, 1792*mib, 0), 8000 * mib, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := tc.c.Next(tc.s)
			if got != tc.want || changed != tc.change {
				t.Fatalf("Next = %d MiB, %v; want %d MiB, %v", got/mib, changed, tc.want/mib, tc.change)
			}
		})
	}
}

// shrunk is a controller that has shrunk an 8 GiB guest using 1 GiB as
// far as it goes.
func shrunk(t *testing.T) *Controller {
	c := New(DefaultPolicy(8 * gib))
	for range 100 {
		total := c.Target()
		c.Next(sample(total, gib, total-gib, 0))
	}
	if c.Target() >= 8*gib {
		t.Fatal("never shrank")
	}
	return c
}

// Every sign of need grows the target to the full size at once.
func TestGrowsAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    func(target uint64) protocol.Stats
	}{
		{"pressure", func(tg uint64) protocol.Stats { return sample(tg, gib, tg-gib, 5) }},
		{"available under half the headroom", func(tg uint64) protocol.Stats { return sample(tg, tg-100*mib, 100*mib, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := shrunk(t)
			if got, changed := c.Next(tc.s(c.Target())); got != 8*gib || !changed {
				t.Fatalf("Next = %d MiB, %v; want the full 8192 MiB at once", got/mib, changed)
			}
		})
	}
	t.Run("the guest stops answering", func(t *testing.T) {
		c := shrunk(t)
		if _, changed := c.Missed(); changed {
			t.Fatal("one missed sample grew it")
		}
		if got, changed := c.Missed(); got != 8*gib || !changed {
			t.Fatalf("two missed samples: %d MiB, %v", got/mib, changed)
		}
	})
}

// simGuest is a Linux guest behind a traditional balloon: its MemTotal is
// the target less what the kernel keeps; it allocates anon memory and
// page cache (which the kernel drops before it runs short), and stalls
// (PSI rises) when it has less than 32 MiB to spare.
type simGuest struct {
	kernel, anon, cache uint64
}

func (g simGuest) stats(target uint64) protocol.Stats {
	total := target - g.kernel
	free := uint64(0)
	if total > g.anon {
		free = total - g.anon
	}
	p := 0.0
	if free < 32*mib {
		p = 20
	}
	return sample(total, min(g.anon, total), free, p)
}

// A day of a guest: idle, a build, idle again. The controller never takes
// the guest below what it uses, shrinks only after calm and in steps,
// grows to the full size the sample after the build starts, and comes to
// rest instead of hunting.
// (The guest is never left less than half the headroom: past that it grows.)
func TestSimulatedGuest(t *testing.T) {
	p := DefaultPolicy(8 * gib)
	c := New(p)
	g := simGuest{kernel: 150 * mib, anon: 700 * mib, cache: 2 * gib}
	var targets []uint64
	run := func(n int) {
		for range n {
			prev := c.Target()
			tg, _ := c.Next(g.stats(prev))
			if tg < prev && prev-tg > p.Step {
				t.Fatalf("shrank by %d MiB in one sample", (prev-tg)/mib)
			}
			if tg < g.anon+g.kernel+p.MinHeadroom/2 {
				t.Fatalf("target %d MiB leaves a guest using %d MiB less than half the headroom", tg/mib, g.anon/mib)
			}
			if tg%mib != 0 {
				t.Fatalf("target %d is not whole MiB", tg)
			}
			targets = append(targets, tg)
		}
	}
	run(p.CalmSamples - 1)
	for i, tg := range targets {
		if tg != 8*gib {
			t.Fatalf("sample %d: shrank to %d MiB before the guest was calm for long", i, tg/mib)
		}
	}
	run(120)
	rest := c.Target()
	if want := g.anon + p.MinHeadroom + g.kernel; rest > want+mib || rest < p.Floor {
		t.Fatalf("at rest the target is %d MiB, want about %d MiB (or the floor)", rest/mib, want/mib)
	}
	before := len(targets)
	run(60)
	for _, tg := range targets[before:] {
		if tg != rest {
			t.Fatalf("the target moves on an idle guest: %d MiB after %d MiB", tg/mib, rest/mib)
		}
	}

	// A little more in use at rest does not empty the balloon.
	g.anon += 64 * mib
	run(1)
	if c.Target() == 8*gib {
		t.Fatal("64 MiB more in use emptied the balloon")
	}
	g.anon -= 64 * mib

	// A build takes 3 GiB of anon memory: the sample after, the balloon
	// is empty.
	g.anon += 3 * gib
	run(1)
	if c.Target() != 8*gib {
		t.Fatalf("during the build: %d MiB", c.Target()/mib)
	}
	run(20)
	if c.Target() < g.anon+g.kernel+p.MinHeadroom {
		t.Fatalf("shrank under a build: %d MiB", c.Target()/mib)
	}
	// Idle again: it comes back to rest.
	g.anon -= 3 * gib
	run(200)
	if c.Target() != rest {
		t.Fatalf("after the build the target rests at %d MiB, before it at %d MiB", c.Target()/mib, rest/mib)
	}
}

// Run sets each new target, asks again for one the hypervisor refused,
// and grows the balloon when the guest stops answering.
func TestRun(t *testing.T) {
	p := DefaultPolicy(2 * gib)
	p.CalmSamples = 1
	c := New(p)
	var mu sync.Mutex
	var sets []uint64
	refuse, answer := 1, true
	stats := sample(2*gib, 200*mib, 1800*mib, 0)
	set := func(_ context.Context, b uint64) error {
		mu.Lock()
		defer mu.Unlock()
		if refuse > 0 {
			refuse--
			return errors.New("refused")
		}
		sets = append(sets, b)
		return nil
	}
	samp := func(context.Context) (protocol.Stats, error) {
		mu.Lock()
		defer mu.Unlock()
		if !answer {
			return protocol.Stats{}, errors.New("no answer")
		}
		return stats, nil
	}
	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		Run(ctx, c, time.Millisecond, samp, set, slog.New(slog.NewTextHandler(&logs, nil)))
		close(done)
	}()
	waitFor := func(what string, ok func([]uint64) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			good := ok(sets)
			mu.Unlock()
			if good {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: sets %v", what, sets)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitFor("shrinks to the floor after a refusal", func(s []uint64) bool { return len(s) > 0 && s[len(s)-1] == 512*mib })
	mu.Lock()
	answer = false
	mu.Unlock()
	waitFor("grows when the guest stops answering", func(s []uint64) bool { return s[len(s)-1] == 2*gib })
	cancel()
	<-done
	if !bytes.Contains(logs.Bytes(), []byte("refused")) {
		t.Errorf("the refusal was not logged: %s", logs.String())
	}
}
