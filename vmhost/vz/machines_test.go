package vz

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/berthvm/berth/vmhost"
)

// slowVM is a fakeVM whose Start blocks until the test releases it, as
// the framework's does until the VM runs (and has been seen to hang). It
// is in Starting meanwhile, where vz refuses to stop a VM.
type slowVM struct {
	fakeVM
	entered chan struct{} // closed when Start is called
	release chan error    // what Start returns
}

func newSlowVM() *slowVM {
	return &slowVM{entered: make(chan struct{}), release: make(chan error, 1)}
}

func (s *slowVM) Start() error {
	s.mu.Lock()
	s.state = stStarting
	s.mu.Unlock()
	close(s.entered)
	err := <-s.release
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.state = stError
	} else {
		s.state = stRunning
	}
	return err
}

// promptly fails the test if f does not return within a second.
func promptly(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Second):
		t.Fatalf("%s waited behind the start in progress", what)
		return nil
	}
}

// startSlow begins a start of "berth" on a slowVM and returns it once the
// framework's Start has been entered, with the start's result channel
// and the count of releases of the machine's resources.
func startSlow(t *testing.T, ms *machines) (*slowVM, <-chan error, *int) {
	t.Helper()
	v := newSlowVM()
	released := new(int)
	result := make(chan error, 1)
	go func() {
		result <- ms.start("berth", func() (startable, func(), error) {
			return v, func() { *released++ }, nil
		})
	}()
	select {
	case <-v.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the framework's Start was never called")
	}
	return v, result, released
}

func TestKillDuringAStartReturnsAtOnceAndTheStartEndsStopped(t *testing.T) {
	var ms machines
	v, result, released := startSlow(t, &ms)
	if err := promptly(t, "Kill", func() error { return ms.kill("berth") }); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if s := ms.state("berth"); s != vmhost.Stopped {
		t.Errorf("state after the kill, start still blocked = %s, want stopped", s)
	}
	if err := promptly(t, "a second Start", func() error {
		return ms.start("berth", func() (startable, func(), error) {
			t.Error("a second machine was built while the first still starts")
			return nil, nil, errors.New("no")
		})
	}); err == nil || !strings.Contains(err.Error(), "already starting") {
		t.Errorf("second Start = %v, want it refused while the first still starts", err)
	}
	v.release <- nil // the framework finally answers: the VM runs
	err := <-result
	if !errors.Is(err, errKilledWhileStarting) {
		t.Fatalf("start = %v, want it to end killed", err)
	}
	if v.State() != stStopped || strings.Join(v.calls, " ") != "Stop" {
		t.Errorf("VM state %d, calls %v: want stopped by one Stop", v.State(), v.calls)
	}
	if *released != 1 {
		t.Errorf("resources released %d times, want once", *released)
	}
	if s := ms.state("berth"); s != vmhost.Stopped {
		t.Errorf("state = %s, want stopped", s)
	}
}

func TestDeleteAndCloseDuringAStart(t *testing.T) {
	for _, op := range []string{"Delete", "Close"} {
		t.Run(op, func(t *testing.T) {
			var ms machines
			v, result, released := startSlow(t, &ms)
			if err := promptly(t, op, func() error {
				if op == "Delete" {
					return ms.delete("berth")
				}
				return ms.close()
			}); err != nil {
				t.Fatalf("%s: %v", op, err)
			}
			v.release <- nil
			if err := <-result; !errors.Is(err, errKilledWhileStarting) {
				t.Fatalf("start = %v, want it to end killed", err)
			}
			if v.State() != stStopped || *released != 1 {
				t.Errorf("VM state %d, released %d times: want stopped, once", v.State(), *released)
			}
			if s := ms.state("berth"); s != vmhost.NotFound {
				t.Errorf("state = %s, want the machine forgotten", s)
			}
		})
	}
}

func TestStateDuringAStartDoesNotWait(t *testing.T) {
	var ms machines
	v, result, _ := startSlow(t, &ms)
	var s vmhost.State
	promptly(t, "State", func() error { s = ms.state("berth"); return nil })
	if s != vmhost.Running { // Starting is "running" to the host
		t.Errorf("state while starting = %s", s)
	}
	v.release <- nil
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	if err := promptly(t, "Kill", func() error { return ms.kill("berth") }); err != nil {
		t.Fatal(err)
	}
	if s := ms.state("berth"); s != vmhost.Stopped {
		t.Errorf("state after kill = %s", s)
	}
}

func TestAFailedStartLeavesNothingBehind(t *testing.T) {
	var ms machines
	v, result, released := startSlow(t, &ms)
	v.release <- errors.New("the framework refused")
	if err := <-result; err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("start = %v", err)
	}
	if *released != 1 || ms.state("berth") != vmhost.NotFound {
		t.Errorf("released %d times, state %s: want once, not-found", *released, ms.state("berth"))
	}
	// The build failing gives the name back too.
	if err := ms.start("berth", func() (startable, func(), error) { return nil, nil, errors.New("no NIC") }); err == nil {
		t.Fatal("a failed build started")
	}
	if s := ms.state("berth"); s != vmhost.NotFound {
		t.Errorf("state after a failed build = %s", s)
	}
}

func TestKillWhileBuildingEndsTheStartBeforeTheFramework(t *testing.T) {
	var ms machines
	building, proceed := make(chan struct{}), make(chan struct{})
	v := newSlowVM()
	released := 0
	result := make(chan error, 1)
	go func() {
		result <- ms.start("berth", func() (startable, func(), error) {
			close(building)
			<-proceed
			return v, func() { released++ }, nil
		})
	}()
	<-building
	if err := promptly(t, "Kill", func() error { return ms.kill("berth") }); err != nil {
		t.Fatal(err)
	}
	close(proceed)
	if err := <-result; !errors.Is(err, errKilledWhileStarting) {
		t.Fatalf("start = %v", err)
	}
	select {
	case <-v.entered:
		t.Error("the framework was asked to start a killed machine")
	default:
	}
	if released != 1 {
		t.Errorf("released %d times", released)
	}
}

func TestStartRefusesARunningMachineAndReplacesAStoppedOne(t *testing.T) {
	var ms machines
	a := &fakeVM{}
	startA := func() (startable, func(), error) { return startNow{a}, func() {}, nil }
	if err := ms.start("berth", startA); err != nil {
		t.Fatal(err)
	}
	if err := ms.start("berth", startA); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second start = %v", err)
	}
	a.mu.Lock()
	a.state = stError // crashed: started again like a stopped one
	a.mu.Unlock()
	b := &fakeVM{}
	if err := ms.start("berth", func() (startable, func(), error) { return startNow{b}, func() {}, nil }); err != nil {
		t.Fatal(err)
	}
	if ms.state("berth") != vmhost.Running {
		t.Errorf("state = %s", ms.state("berth"))
	}
}

// startNow is a fakeVM whose Start runs it at once.
type startNow struct{ *fakeVM }

func (s startNow) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = stRunning
	return nil
}
