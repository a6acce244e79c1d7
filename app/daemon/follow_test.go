package daemon

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/app/dockerctx"
	"github.com/berthvm/berth/app/settings"
	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/vmhost"
)

// bootOnlyBackend boots a VM whose guest never answers: a start waits for
// the engine until someone stops it.
type bootOnlyBackend struct {
	mu    sync.Mutex
	state vmhost.State
	subs  []chan vmhost.State
}

func (b *bootOnlyBackend) set(st vmhost.State) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.state = st
	for _, ch := range b.subs {
		select {
		case ch <- st:
		default:
		}
	}
}

func (b *bootOnlyBackend) Start(ctx context.Context, spec vmhost.Spec) error {
	b.set(vmhost.Running)
	return nil
}
func (b *bootOnlyBackend) Kill(ctx context.Context, name string) error {
	b.set(vmhost.Stopped)
	return nil
}
func (b *bootOnlyBackend) State(ctx context.Context, name string) (vmhost.State, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == "" {
		return vmhost.NotFound, nil
	}
	return b.state, nil
}
func (b *bootOnlyBackend) Watch(ctx context.Context, name string) (<-chan vmhost.State, error) {
	ch := make(chan vmhost.State, 8)
	b.mu.Lock()
	b.subs = append(b.subs, ch)
	b.mu.Unlock()
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		defer b.mu.Unlock()
		for i, c := range b.subs {
			if c == ch {
				b.subs = append(b.subs[:i], b.subs[i+1:]...)
			}
		}
		close(ch)
	}()
	return ch, nil
}
func (b *bootOnlyBackend) Delete(ctx context.Context, name string) error { return nil }
func (b *bootOnlyBackend) Close() error                                  { return nil }
func (b *bootOnlyBackend) GuestFacts() vmhost.GuestFacts {
	return vmhost.GuestFacts{Console: protocol.ConsoleUART}
}

// newTestDaemon makes a daemon on a fake backend with a home of its own.
func newTestDaemon(t testing.TB, backend vmhost.Backend) *Daemon {
	t.Helper()
	home := t.TempDir()
	p := settings.Paths{Config: filepath.Join(home, "c"), Data: filepath.Join(home, "d"), Run: filepath.Join(home, "r")}
	if err := p.Ensure(); err != nil {
		t.Fatal(err)
	}
	guest := t.TempDir()
	for _, f := range []string{"vmlinuz", "initrd.img", "system.img"} {
		os.WriteFile(filepath.Join(guest, f), nil, 0o644)
	}
	return New(Options{
		Paths: p, Host: settings.Host{CPUs: 2, MemoryMiB: 4096, Home: home, Temp: home},
		GuestDir: guest, Backend: backend, Contexts: dockerctx.Store{Dir: t.TempDir()},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

// serveDaemon runs a daemon on a fake backend and returns a client of it.
func serveDaemon(t *testing.T, backend vmhost.Backend) (*Daemon, *control.Client) {
	t.Helper()
	d := newTestDaemon(t, backend)
	l, err := net.Listen("unix", filepath.Join(d.o.Paths.Run, "t.sock"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: d.handler()}
	go srv.Serve(l)
	t.Cleanup(func() {
		srv.Close()
		d.teardown(true)
	})
	return d, control.NewClient(l.Addr().String())
}

// A start that is waiting for the engine ends as soon as another client
// stops the machine, even when the follower reads slowly and the daemon
// publishes many steps meanwhile.
func TestStartFollowerSeesConcurrentStop(t *testing.T) {
	d, c := serveDaemon(t, &bootOnlyBackend{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	waiting := make(chan struct{})
	var once sync.Once
	done := make(chan struct{})
	var last control.Event
	var err error
	go func() {
		defer close(done)
		last, err = c.StartFollow(ctx, func(e control.Event) {
			if e.State == control.Starting && e.Step == "waiting for the engine" {
				once.Do(func() { close(waiting) })
			}
			time.Sleep(20 * time.Millisecond) // a slow reader
		})
	}()
	select {
	case <-waiting:
	case <-done:
		t.Fatalf("follower ended before the start waited for the engine: %+v, %v", last, err)
	}
	for i := 0; i < 200; i++ { // far more than any buffer would hold
		d.life.progress("waiting for the engine (guest: step)")
	}
	if err := c.Stop(ctx, true); err != nil {
		t.Fatalf("stop: %v", err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the start follower never saw the machine stop")
	}
	if err != nil || last.State != control.Stopped {
		t.Fatalf("follower ended on %+v, %v; want stopped", last, err)
	}
}

// A subscriber that reads nothing for a while still gets every state, in
// order, ending on the current one; steps within a state collapse.
func TestSlowSubscriberKeepsStates(t *testing.T) {
	m := newLifecycle()
	sub, cancel := m.subscribe()
	defer cancel()
	m.to(control.Starting, "a", "")
	for i := 0; i < 1000; i++ {
		m.progress("step")
	}
	m.to(control.Stopping, "", "")
	m.to(control.Stopped, "", "")
	var got []control.State
	for _, e := range sub.Take() {
		got = append(got, e.State)
	}
	want := []control.State{control.Stopped, control.Starting, control.Stopping, control.Stopped}
	if len(got) != len(want) {
		t.Fatalf("states %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("states %v, want %v", got, want)
		}
	}
}
