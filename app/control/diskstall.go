package control

import (
	"fmt"
	"strings"
	"time"

	"github.com/berthvm/berth/guestd/protocol"
)

// DiskStallText tells the user that a disk of the VM stopped answering,
// which, since when (on the host's clock, as of now) and what to do.
func DiskStallText(s *protocol.DiskStall, now time.Time) string {
	var b strings.Builder
	dev := s.Device
	switch {
	case s.DataDisk:
		dev += " (the data disk: images, containers, volumes)"
	case s.Stacked:
		dev += " (a loop or device-mapper device made in the VM)"
	}
	head := "The VM's disk stopped answering"
	if s.Stacked {
		head = "A block device in the VM stopped answering"
	}
	fmt.Fprintf(&b, "%s: %s has had %d %s in flight and completed none since %s.",
		head, dev, s.InFlight, plural(s.InFlight, "request", "requests"), since(s.Since, now))
	if len(s.Others) > 0 {
		fmt.Fprintf(&b, " Also stalled: %s.", strings.Join(s.Others, ", "))
	}
	if s.HungTasks > 0 {
		fmt.Fprintf(&b, " The guest kernel reported %d hung %s since (the latest: %s).", s.HungTasks, plural(s.HungTasks, "task", "tasks"), s.HungTask)
	}
	if s.Stacked {
		b.WriteString(" What uses it hangs until it answers; docker commands still go to the engine." +
			" If nothing in the VM will resume it, run `berth restart`")
	} else {
		b.WriteString(" Docker commands are refused until it answers again, and containers may be shown Up whose processes are gone." +
			" Run `berth restart`")
	}
	b.WriteString(" (it powers the VM off without stopping containers: a clean stop would wait on the disk), or `berth stop --force` then `berth start`.")
	return b.String()
}

// DiskStallRefusal is the docker API's error while a disk stalls: the
// docker CLI prints it as "Error response from daemon: …".
func DiskStallRefusal(s *protocol.DiskStall, now time.Time) string {
	return fmt.Sprintf("Berth: the VM's disk (%s) stopped answering since %s; run berth restart (or berth stop --force, then berth start)", s.Device, since(s.Since, now))
}

// since is a past time on the local clock and how long ago it was.
func since(t, now time.Time) string {
	layout := "15:04:05"
	if t.Local().YearDay() != now.Local().YearDay() {
		layout = "2006-01-02 15:04:05"
	}
	ago := now.Sub(t).Round(time.Second)
	if ago < 0 {
		ago = 0
	}
	return fmt.Sprintf("%s (%s ago)", t.Local().Format(layout), ago)
}

func plural(n uint64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
