package daemon

import (
	"testing"

	"github.com/berthvm/berth/app/control"
)

func TestTransitions(t *testing.T) {
	m := newLifecycle()
	events, cancel := m.subscribe()
	defer cancel()
	if e := events.Take(); len(e) != 1 || e[0].State != control.Stopped {
		t.Fatalf("first event %+v, want the current state", e)
	}
	steps := []struct {
		to control.State
		ok bool
	}{
		{control.Running, false}, // must start first
		{control.Stopping, false},
		{control.Starting, true},
		{control.Starting, false}, // twice
		{control.Running, true},
		{control.Starting, false},
		{control.Stopping, true},
		{control.Stopped, true},
		{control.Starting, true},
		{control.Error, true},
		{control.Starting, true}, // retry after an error
		{control.Error, true},
		{control.Stopped, true},
	}
	for i, s := range steps {
		err := m.to(s.to, "", "")
		if (err == nil) != s.ok {
			t.Fatalf("step %d to %s: err %v, want ok=%v", i, s.to, err, s.ok)
		}
		if err == nil {
			if e := events.Take(); len(e) != 1 || e[0].State != s.to {
				t.Fatalf("step %d: event %+v", i, e)
			}
		}
	}
}

func TestTransitionMessages(t *testing.T) {
	m := newLifecycle()
	if err := m.to(control.Stopping, "", ""); err == nil || err.Error() != "Berth is not running" {
		t.Fatalf("stop when stopped: %v", err)
	}
	m.to(control.Starting, "", "")
	m.to(control.Running, "", "")
	if err := m.to(control.Starting, "", ""); err == nil || err.Error() != "Berth is already running" {
		t.Fatalf("start when running: %v", err)
	}
}
