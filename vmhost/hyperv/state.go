package hyperv

import (
	"context"
	"time"

	"github.com/berthvm/berth/vmhost"
)

// enabledState mirrors hypervctl.EnabledState (Msvm_ComputerSystem's
// EnabledState), value for value (hyperv_windows.go checks that at compile
// time), so the mapping runs and is tested on every OS.
type enabledState uint16

const (
	esUnknown           enabledState = 0
	esOther             enabledState = 1
	esEnabled           enabledState = 2 // running
	esDisabled          enabledState = 3 // off
	esShuttingDown      enabledState = 4
	esNotApplicable     enabledState = 5
	esEnabledButOffline enabledState = 6 // saved
	esInTest            enabledState = 7
	esDeferred          enabledState = 8
	esQuiesce           enabledState = 9 // paused
	esStarting          enabledState = 10
)

// hostState is what the daemon sees. A saved VM is frozen like a paused
// one; states Hyper-V gives no meaning to for a VM are a crash, so the
// daemon reports an error instead of waiting on a machine that is gone.
func hostState(s enabledState) vmhost.State {
	switch s {
	case esDisabled:
		return vmhost.Stopped
	case esEnabled, esStarting, esShuttingDown:
		return vmhost.Running
	case esQuiesce, esEnabledButOffline:
		return vmhost.Paused
	}
	return vmhost.Crashed
}

// poll sends the machine's state changes until ctx ends, as libvirt's
// events do: WMI has events too, but a VM's state changes a few times a
// session and a poll survives the Hyper-V service restarting. The first
// state read is the baseline, not sent, and a machine being defined or
// removed (not-found to stopped and back) is no change: the daemon
// watches before Start redefines the machine, and a "stopped" then would
// read as the machine going down. A failing get sends nothing.
func poll(ctx context.Context, get func() (vmhost.State, error), every time.Duration) <-chan vmhost.State {
	ch := make(chan vmhost.State, 1)
	down := func(s vmhost.State) bool { return s == vmhost.Stopped || s == vmhost.NotFound }
	go func() {
		defer close(ch)
		var last vmhost.State
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if s, err := get(); err == nil {
				if last != "" && s != last && !(down(s) && down(last)) {
					select {
					case ch <- s:
					case <-ctx.Done():
						return
					}
				}
				last = s
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return ch
}
