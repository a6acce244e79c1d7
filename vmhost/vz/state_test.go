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

// fakeVM records the calls halt makes; a RequestStop powers it off after
// powerOff (never if negative).
type fakeVM struct {
	mu         sync.Mutex
	state      vmState
	canRequest bool
	requestErr error
	powerOff   time.Duration
	canStop    bool
	calls      []string
}

func (f *fakeVM) State() vmState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

func (f *fakeVM) CanRequestStop() bool { return f.canRequest }

func (f *fakeVM) RequestStop() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "RequestStop")
	if f.requestErr != nil {
		return false, f.requestErr
	}
	if f.powerOff >= 0 {
		time.AfterFunc(f.powerOff, func() {
			f.mu.Lock()
			f.state = stStopped
			f.mu.Unlock()
		})
	}
	return true, nil
}

func (f *fakeVM) CanStop() bool { return f.canStop }

func (f *fakeVM) Stop() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "Stop")
	f.state = stStopped
	return nil
}

func TestHalt(t *testing.T) {
	for _, tc := range []struct {
		name      string
		vm        *fakeVM
		grace     time.Duration
		wantCalls string
		errHas    string
	}{
		{"already stopped", &fakeVM{state: stStopped}, time.Second, "", ""},
		{"guest powers off in time", &fakeVM{state: stRunning, canRequest: true, powerOff: 100 * time.Millisecond, canStop: true}, 2 * time.Second, "RequestStop", ""},
		{"guest ignores the request", &fakeVM{state: stRunning, canRequest: true, powerOff: -1, canStop: true}, 200 * time.Millisecond, "RequestStop Stop", ""},
		{"request fails", &fakeVM{state: stRunning, canRequest: true, requestErr: errors.New("no"), canStop: true}, time.Second, "RequestStop Stop", ""},
		{"no grace pulls the plug", &fakeVM{state: stRunning, canRequest: true, canStop: true}, 0, "Stop", ""},
		{"request not possible", &fakeVM{state: stStarting, canStop: true}, time.Second, "Stop", ""},
		{"cannot stop", &fakeVM{state: stRestoring}, time.Second, "", "cannot be stopped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := halt(context.Background(), tc.vm, tc.grace)
			if tc.errHas == "" && err != nil || tc.errHas != "" && (err == nil || !strings.Contains(err.Error(), tc.errHas)) {
				t.Fatalf("err = %v, want %q", err, tc.errHas)
			}
			if got := strings.Join(tc.vm.calls, " "); got != tc.wantCalls {
				t.Errorf("calls = %q, want %q", got, tc.wantCalls)
			}
			if tc.errHas == "" && tc.vm.State() != stStopped {
				t.Errorf("state = %d after halt", tc.vm.State())
			}
		})
	}
}

func TestHaltStopsWaitingWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	m := &fakeVM{state: stRunning, canRequest: true, powerOff: -1, canStop: true}
	start := time.Now()
	if err := halt(ctx, m, time.Minute); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 10*time.Second || strings.Join(m.calls, " ") != "RequestStop Stop" {
		t.Fatalf("calls %v after %v", m.calls, time.Since(start))
	}
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
