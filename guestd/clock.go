//go:build linux

package main

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// stepClock moves the wall clock by d: the host asks at boot, after the
// host sleeps and after the VM was paused, when the guest's clock fell
// behind. A step, not a slew: after a sleep the clock is minutes or hours
// behind, and TLS and make need the right time now. The kernel adds d
// itself (ADJ_SETOFFSET), so no time passes between reading the clock and
// setting it.
func (g *guest) stepClock(d time.Duration) error {
	tx := setOffset(d)
	if _, err := unix.Adjtimex(&tx); err != nil {
		return fmt.Errorf("step the clock by %v: %w", d, err)
	}
	g.log.Info("clock stepped to the host's", "step", d)
	return nil
}

// setOffset is the adjtimex request that steps the clock by d: with
// ADJ_NANO the microseconds field holds nanoseconds, which the kernel wants
// in [0, 1e9), so a step back has a negative second count.
func setOffset(d time.Duration) unix.Timex {
	sec, nsec := int64(d)/1e9, int64(d)%1e9
	if nsec < 0 {
		sec--
		nsec += 1e9
	}
	return unix.Timex{Modes: unix.ADJ_SETOFFSET | unix.ADJ_NANO, Time: unix.Timeval{Sec: sec, Usec: nsec}}
}
