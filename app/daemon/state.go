package daemon

import (
	"fmt"
	"sync"
	"time"

	"github.com/berthvm/berth/app/control"
)

// transitions lists where each state may go. Error is reachable from every
// state that has a VM (or is getting one) and leads back only through a new
// start or stop.
var transitions = map[control.State][]control.State{
	control.Stopped:  {control.Starting},
	control.Starting: {control.Running, control.Stopping, control.Error},
	control.Running:  {control.Stopping, control.Error},
	control.Stopping: {control.Stopped, control.Error},
	control.Error:    {control.Starting, control.Stopping, control.Stopped},
}

// machine is the daemon's state machine; subscribers hear every change.
type machine struct {
	mu     sync.Mutex
	state  control.State
	step   string
	reason string
	subs   map[chan control.Event]struct{}
}

func newMachine() *machine {
	return &machine{state: control.Stopped, subs: map[chan control.Event]struct{}{}}
}

func (m *machine) snapshot() (control.State, string, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state, m.step, m.reason
}

// to moves to state, if the current state allows it.
func (m *machine) to(state control.State, step, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !allowed(m.state, state) {
		return &transitionError{from: m.state, to: state}
	}
	m.state, m.step, m.reason = state, step, reason
	m.publish()
	return nil
}

// progress records a step within the current state.
func (m *machine) progress(step string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.step = step
	m.publish()
}

func (m *machine) publish() {
	e := control.Event{Time: time.Now(), State: m.state, Step: m.step, Reason: m.reason}
	for ch := range m.subs {
		select {
		case ch <- e:
		default: // a slow reader misses steps, never blocks the machine
		}
	}
}

// subscribe returns a channel with the current state first, then changes.
func (m *machine) subscribe() (chan control.Event, func()) {
	ch := make(chan control.Event, 32)
	m.mu.Lock()
	ch <- control.Event{Time: time.Now(), State: m.state, Step: m.step, Reason: m.reason}
	m.subs[ch] = struct{}{}
	m.mu.Unlock()
	return ch, func() {
		m.mu.Lock()
		delete(m.subs, ch)
		m.mu.Unlock()
	}
}

func allowed(from, to control.State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

type transitionError struct{ from, to control.State }

func (e *transitionError) Error() string {
	switch {
	case e.to == control.Starting && e.from == control.Running:
		return "Berth is already running"
	case e.to == control.Starting:
		return fmt.Sprintf("Berth is %s; wait for it to finish", e.from)
	case e.to == control.Stopping && e.from == control.Stopped:
		return "Berth is not running"
	case e.to == control.Stopping:
		return fmt.Sprintf("Berth is already %s", e.from)
	}
	return fmt.Sprintf("cannot go from %s to %s", e.from, e.to)
}
