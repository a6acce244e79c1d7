package vz

import (
	"context"
	"sync"
	"time"

	"github.com/berthvm/berth/vmhost"
)

// vmState mirrors vz.VirtualMachineState, value for value (vz_darwin.go
// checks that at compile time), so the logic below runs and is tested on
// every OS.
type vmState int

const (
	stStopped vmState = iota
	stRunning
	stPaused
	stError
	stStarting
	stPausing
	stResuming
	stStopping
	stSaving
	stRestoring
)

// hostState is what the daemon sees: a VM on its way up or down still
// runs; the framework's error state is a crash.
func hostState(s vmState) vmhost.State {
	switch s {
	case stStopped:
		return vmhost.Stopped
	case stError:
		return vmhost.Crashed
	case stPaused, stPausing, stSaving:
		return vmhost.Paused
	}
	return vmhost.Running
}

// vm is the part of *vz.VirtualMachine that stopping uses; tests fake it.
type vm interface {
	State() vmState
	CanRequestStop() bool
	RequestStop() (bool, error)
	CanStop() bool
	Stop() error
}

// halt stops m: first as a power button would (RequestStop), giving the
// guest grace to power off, then by pulling the plug. (The graceful path
// proper is the guest API, above this layer: guestd stops the engine,
// syncs and powers off; halt is what follows when that did not work.)
func halt(ctx context.Context, m vm, grace time.Duration) error {
	if hostState(m.State()) == vmhost.Stopped {
		return nil
	}
	if grace > 0 && m.CanRequestStop() {
		if ok, err := m.RequestStop(); err == nil && ok && waitStopped(ctx, m, grace) {
			return nil
		}
	}
	if m.State() == stStopped {
		return nil
	}
	if !m.CanStop() {
		return errNotStoppable(m.State())
	}
	return m.Stop()
}

func waitStopped(ctx context.Context, m vm, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if m.State() == stStopped {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return m.State() == stStopped
}

type errNotStoppable vmState

func (e errNotStoppable) Error() string {
	return "the VM cannot be stopped in its current state (" + string(hostState(vmState(e))) + ")"
}

// hub fans the framework's one state channel out to every watcher.
type hub struct {
	mu   sync.Mutex
	subs map[chan vmhost.State]struct{}
	last vmhost.State
}

func newHub(initial vmhost.State) *hub {
	return &hub{subs: map[chan vmhost.State]struct{}{}, last: initial}
}

func (h *hub) publish(s vmhost.State) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s == h.last {
		return
	}
	h.last = s
	for ch := range h.subs {
		select {
		case ch <- s:
		default: // a slow watcher misses a step, never blocks the VM
		}
	}
}

// watch sends every change from now on until ctx ends, as libvirt's
// events do: the daemon subscribes before the machine starts, and a
// first "stopped" would read as the machine going down.
func (h *hub) watch(ctx context.Context) <-chan vmhost.State {
	ch := make(chan vmhost.State, 8)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	go func() {
		<-ctx.Done()
		h.mu.Lock()
		delete(h.subs, ch)
		close(ch)
		h.mu.Unlock()
	}()
	return ch
}

// hubs holds one hub per machine name, made on first use: a watcher may
// come before the machine does.
type hubs struct {
	mu sync.Mutex
	m  map[string]*hub
}

func (hs *hubs) get(name string) *hub {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.m == nil {
		hs.m = map[string]*hub{}
	}
	h, ok := hs.m[name]
	if !ok {
		h = newHub(vmhost.Stopped)
		hs.m[name] = h
	}
	return h
}
