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

// lifecycle is the daemon's state machine (stopped, starting, running,
// stopping, error); subscribers hear every change.
type lifecycle struct {
	mu     sync.Mutex
	state  control.State
	step   string
	reason string
	subs   map[*subscriber]struct{}
}

// subscriber is one listener's queue. It never blocks the machine and never
// loses a state: a slow reader's pending steps within one state collapse to
// the latest, so it always ends on the state the machine is in.
type subscriber struct {
	mu      sync.Mutex
	pending []control.Event
	ready   chan struct{} // has a token while pending is not empty
}

// maxPending bounds a stuck reader's queue; only the oldest states go.
const maxPending = 64

func (s *subscriber) push(e control.Event) {
	s.mu.Lock()
	if n := len(s.pending); n > 0 && s.pending[n-1].State == e.State {
		s.pending[n-1] = e
	} else {
		s.pending = append(s.pending, e)
		if len(s.pending) > maxPending {
			s.pending = s.pending[1:]
		}
	}
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Ready is signalled when Take has events.
func (s *subscriber) Ready() <-chan struct{} { return s.ready }

// Take returns the pending events, oldest first.
func (s *subscriber) Take() []control.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.pending
	s.pending = nil
	return out
}

func newLifecycle() *lifecycle {
	return &lifecycle{state: control.Stopped, subs: map[*subscriber]struct{}{}}
}

func (m *lifecycle) snapshot() (control.State, string, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state, m.step, m.reason
}

// to moves to state, if the current state allows it.
func (m *lifecycle) to(state control.State, step, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !allowed(m.state, state) {
		return &transitionError{from: m.state, to: state}
	}
	m.state, m.step, m.reason = state, step, reason
	m.publish()
	return nil
}

// toFrom moves from one state to another, and does nothing (false) when the
// machine is no longer in from: a boot that fails after a stop was asked
// for leaves the stop to say how it ended.
func (m *lifecycle) toFrom(from, to control.State, step, reason string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != from || !allowed(from, to) {
		return false
	}
	m.state, m.step, m.reason = to, step, reason
	m.publish()
	return true
}

// progress records a step within the current state.
func (m *lifecycle) progress(step string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.step = step
	m.publish()
}

func (m *lifecycle) event() control.Event {
	return control.Event{Time: time.Now(), State: m.state, Step: m.step, Reason: m.reason}
}

func (m *lifecycle) publish() {
	e := m.event()
	for s := range m.subs {
		s.push(e)
	}
}

// subscribe returns a queue with the current state first, then changes.
func (m *lifecycle) subscribe() (*subscriber, func()) {
	s := &subscriber{ready: make(chan struct{}, 1)}
	m.mu.Lock()
	s.push(m.event())
	m.subs[s] = struct{}{}
	m.mu.Unlock()
	return s, func() {
		m.mu.Lock()
		delete(m.subs, s)
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
