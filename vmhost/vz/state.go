package vz

import (
	"context"
	"sync"

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

// down reports whether a VM in state s runs nothing. vz starts a machine
// only from Stopped or Error and stops one only while it runs or is
// paused: a VM in Error has ended, badly, and is replaced like a stopped
// one (the daemon still hears "crashed" from hostState).
func down(s vmState) bool { return s == stStopped || s == stError }

// vm is the part of *vz.VirtualMachine that stopping uses; tests fake it.
type vm interface {
	State() vmState
	CanStop() bool
	Stop() error
}

// halt pulls the plug on m. No power-button press (RequestStop) first:
// the daemon kills only after the guest API's shutdown (guestd stops the
// engine, syncs and powers off) failed or was skipped on purpose, and
// guestd has no power-key handler, so a press would only add its grace.
func halt(m vm) error {
	if down(m.State()) {
		return nil
	}
	if !m.CanStop() {
		return errNotStoppable(m.State())
	}
	// The VM may have gone down by itself since the check.
	if err := m.Stop(); err != nil && !down(m.State()) {
		return err
	}
	return nil
}

type errNotStoppable vmState

func (e errNotStoppable) Error() string {
	return "the VM cannot be stopped in its current state (" + string(hostState(vmState(e))) + ")"
}

// follow passes the framework's state changes to publish, and calls
// onDown whenever the VM goes down (its network link is then closed, so
// the virtual network never writes to a VM that no longer reads; vz
// sends changes only, never the Stopped a new VM starts in). It
// returns when done closes: the framework never closes its channel, so
// without done each start would leave a goroutine behind for good.
func follow[S ~int](done <-chan struct{}, states <-chan S, publish func(vmhost.State), onDown func()) {
	for {
		select {
		case <-done:
			return
		case s := <-states:
			publish(hostState(vmState(s)))
			if down(vmState(s)) {
				onDown()
			}
		}
	}
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
