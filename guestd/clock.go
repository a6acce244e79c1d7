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

// clockFromHost steps a clock that is behind the host's time of composing
// the options (protocol.Options.HostTime) to that time, before the data
// disk is checked and mounted (e2fsck and ext4 keep times) and before the
// engine starts: a guest without an RTC starts in 1970. A clock ahead of
// it is left alone; it is at most the boot's seconds behind, and the host
// steps it precisely as soon as the guest API answers.
func (g *guest) clockFromHost(hostTime int64) {
	d := bootStep(time.Now(), hostTime)
	if d == 0 {
		return
	}
	if err := g.stepClock(d); err != nil {
		g.problem(fmt.Errorf("set the clock from the host's at boot: %w", err))
	}
}

// bootStep is how far to step the clock at boot: up to the host's time,
// never back.
func bootStep(now time.Time, hostTime int64) time.Duration {
	if hostTime <= 0 {
		return 0
	}
	if host := time.Unix(hostTime, 0); now.Before(host) {
		return host.Sub(now)
	}
	return 0
}
