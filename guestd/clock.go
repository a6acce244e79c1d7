//go:build linux

package main

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// setClock steps the wall clock to the host's time t (the host calls it at
// boot, after the host sleeps and after the VM was paused, when the guest's
// clock fell behind) and says how far it moved. A step, not a slew: after a
// sleep the clock is minutes or hours behind, and TLS and make need the
// right time now.
func (g *guest) setClock(t time.Time) (time.Duration, error) {
	ts := unix.NsecToTimespec(t.UnixNano())
	before := time.Now().Round(0) // the wall reading: the step is wall against wall
	if err := unix.ClockSettime(unix.CLOCK_REALTIME, &ts); err != nil {
		return 0, fmt.Errorf("set the clock to %s: %w", t.UTC().Format(time.RFC3339Nano), err)
	}
	step := t.Sub(before)
	g.log.Info("clock set from the host's", "step", step)
	return step, nil
}
