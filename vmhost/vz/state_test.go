package vz

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthvm/berth/vmhost"
)

func TestHostState(t *testing.T) {
	want := map[vmState]vmhost.State{
		stStopped: vmhost.Stopped, stRunning: vmhost.Running, stPaused: vmhost.Paused,
		stError: vmhost.Crashed, stStarting: vmhost.Running, stPausing: vmhost.Paused,
		stResuming: vmhost.Running, stStopping: vmhost.Running, stSaving: vmhost.Paused,
		stRestoring: vmhost.Running,
	}
	for s := stStopped; s <= stRestoring; s++ {
		if got := hostState(s); got != want[s] {
			t.Errorf("hostState(%d) = %s, want %s", s, got, want[s])
		}
	}
}

func TestDown(t *testing.T) {
	for s := stStopped; s <= stRestoring; s++ {
		// vz's rules: Start works in Stopped or Error, Stop in neither.
		if want := s == stStopped || s == stError; down(s) != want {
			t.Errorf("down(%d) = %v, want %v", s, down(s), want)
		}
	}
}

// fakeVM follows vz's rule for stopping: Stop works only while the VM
// runs or is paused, and leaves it stopped.
type fakeVM struct {
	mu    sync.Mutex
	state vmState
	calls []string
}

func (f *fakeVM) State() vmState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

func (f *fakeVM) CanStop() bool {
	s := f.State()
	return s == stRunning || s == stPaused
}

func (f *fakeVM) Stop() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "Stop")
	if f.state != stRunning && f.state != stPaused {
		return errors.New("invalid virtual machine state transition")
	}
	f.state = stStopped
	return nil
}

func TestHalt(t *testing.T) {
	for _, tc := range []struct {
		name      string
		state     vmState
		wantCalls string
		errHas    string
	}{
		{"stopped", stStopped, "", ""},
		// A VM in Error has ended: halting it (Kill, Delete, Close)
		// succeeds without Stop, which vz refuses there.
		{"error: nothing to stop", stError, "", ""},
		{"running: the plug at once", stRunning, "Stop", ""},
		{"paused", stPaused, "Stop", ""},
		{"restoring: cannot stop", stRestoring, "", "cannot be stopped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &fakeVM{state: tc.state}
			err := halt(m)
			if tc.errHas == "" && err != nil || tc.errHas != "" && (err == nil || !strings.Contains(err.Error(), tc.errHas)) {
				t.Fatalf("err = %v, want %q", err, tc.errHas)
			}
			if got := strings.Join(m.calls, " "); got != tc.wantCalls {
				t.Errorf("calls = %q, want %q", got, tc.wantCalls)
			}
			if tc.errHas == "" && !down(m.State()) {
				t.Errorf("state = %d after halt", m.State())
			}
		})
	}
}

func TestFollowClosesTheLinkWhenTheVMGoesDown(t *testing.T) {
	for _, last := range []vmState{stStopped, stError} {
		states := make(chan vmState, 8)
		done := make(chan struct{})
		var published []string
		downs := 0
		for _, s := range []vmState{stStarting, stRunning, last} {
			states <- s
		}
		ended := make(chan struct{})
		go func() {
			follow(done, states, func(s vmhost.State) { published = append(published, string(s)) }, func() {
				downs++
				if downs == 1 {
					close(done) // the test's way to see the whole sequence through
				}
			})
			close(ended)
		}()
		<-ended
		if want := "running running " + string(hostState(last)); strings.Join(published, " ") != want || downs != 1 {
			t.Errorf("ending in %d: published %v, link closed %d times; want %q, once", last, published, downs, want)
		}
	}
}

func TestFollowEndsWhenTheMachineIsReleased(t *testing.T) {
	states := make(chan vmState) // vz never closes its channel
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		follow(done, states, func(vmhost.State) {}, func() {})
		close(ended)
	}()
	close(done)
	<-ended // a leaked goroutine hangs here until the test times out
}

func TestHubFansOut(t *testing.T) {
	var hs hubs
	ctx, cancel := context.WithCancel(context.Background())
	// The daemon watches before the machine starts: no "stopped" then.
	a, b := hs.get("berth").watch(ctx), hs.get("berth").watch(ctx)
	h := hs.get("berth")
	// Starting and Running are both "running" to the host: one step.
	for _, s := range []vmState{stStarting, stRunning, stStopping, stStopped} {
		h.publish(hostState(s))
	}
	for name, ch := range map[string]<-chan vmhost.State{"a": a, "b": b} {
		var got []string
		for len(ch) > 0 {
			got = append(got, string(<-ch))
		}
		if strings.Join(got, " ") != "running stopped" {
			t.Errorf("watcher %s saw %v", name, got)
		}
	}
	if hs.get("other") == h {
		t.Error("two machines share a hub")
	}
	cancel()
	for range a { // closed once ctx ends
	}
}

func TestHubNeverBlocksOnASlowWatcher(t *testing.T) {
	h := newHub(vmhost.Stopped)
	_ = h.watch(context.Background()) // never read
	states := []vmhost.State{vmhost.Running, vmhost.Paused}
	finished := make(chan struct{})
	go func() {
		for i := 0; i < 100; i++ {
			h.publish(states[i%2])
		}
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("publish blocked on a watcher that does not read")
	}
}
