package hyperv

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/berthvm/berth/vmhost"
)

// fakeHyperV keeps Hyper-V's rule that DefineSystem makes the VM before
// its disks are added: a define that fails on a disk leaves the VM.
type fakeHyperV struct {
	vms      map[string]bool
	failDisk bool
	failAt   string // "console", "links" or "boot"
	serving  bool
}

func (h *fakeHyperV) steps(name string) startSteps {
	fail := func(step string) error {
		if h.failAt == step {
			return errors.New(step + " refused")
		}
		return nil
	}
	return startSteps{
		define: func() error {
			h.vms[name] = true // DefineSystem
			if h.failDisk {
				return errors.New("AddResourceSettings: the file is in use")
			}
			return nil
		},
		console: func() error { return fail("console") },
		links: func() error {
			if err := fail("links"); err != nil {
				return err
			}
			h.serving = true
			return nil
		},
		boot:      func() error { return fail("boot") },
		stopLinks: func() { h.serving = false },
		remove:    func() error { delete(h.vms, name); return nil },
	}
}

func TestStartLeavesNoHalfMadeVM(t *testing.T) {
	for _, tc := range []struct {
		name, failAt string
		failDisk     bool
		errHas       string
	}{
		{"disk", "", true, "define: AddResourceSettings"},
		{"console", "console", false, "console: console refused"},
		{"links", "links", false, "links refused"},
		{"boot", "boot", false, "boot refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &fakeHyperV{vms: map[string]bool{}, failDisk: tc.failDisk, failAt: tc.failAt}
			err := h.steps("berth-1").run()
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("err = %v, want one containing %q", err, tc.errHas)
			}
			if len(h.vms) != 0 || h.serving {
				t.Fatalf("left behind: VMs %v, links served %v", h.vms, h.serving)
			}
		})
	}
	h := &fakeHyperV{vms: map[string]bool{}}
	if err := h.steps("berth-1").run(); err != nil || !h.vms["berth-1"] || !h.serving {
		t.Fatalf("start: %v, VMs %v, serving %v", err, h.vms, h.serving)
	}
}

// A removal that fails too is said, with what to do.
func TestStartSaysWhenCleanupFails(t *testing.T) {
	h := &fakeHyperV{vms: map[string]bool{}, failDisk: true}
	s := h.steps("berth-1")
	s.remove = func() error { return errors.New("WMI is gone") }
	if err := s.run(); err == nil || !strings.Contains(err.Error(), "define: AddResourceSettings") || !strings.Contains(err.Error(), "Hyper-V Manager") {
		t.Fatalf("err = %v", err)
	}
}

// A VM that never reads as off ends the wait with an error instead of a
// poll for ever, whatever ctx the caller gave.
func TestWaitStoppedIsBounded(t *testing.T) {
	running := func(context.Context) (vmhost.State, error) { return vmhost.Running, nil }
	err := waitStopped(context.Background(), running, time.Millisecond, 20*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "still running") {
		t.Fatalf("err = %v", err)
	}
	failing := func(context.Context) (vmhost.State, error) { return "", errors.New("WMI hiccup") }
	if err := waitStopped(context.Background(), failing, time.Millisecond, 20*time.Millisecond); err == nil || !strings.Contains(err.Error(), "WMI hiccup") {
		t.Fatalf("err = %v", err)
	}
	// Off after a few polls, and a machine already gone, are both off.
	n := 0
	goingDown := func(context.Context) (vmhost.State, error) {
		if n++; n < 3 {
			return vmhost.Running, nil
		}
		return vmhost.Stopped, nil
	}
	if err := waitStopped(context.Background(), goingDown, time.Millisecond, time.Hour); err != nil {
		t.Fatal(err)
	}
	gone := func(context.Context) (vmhost.State, error) { return vmhost.NotFound, nil }
	if err := waitStopped(context.Background(), gone, time.Millisecond, time.Hour); err != nil {
		t.Fatal(err)
	}
}
