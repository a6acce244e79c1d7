package control

import (
	"strings"
	"testing"
	"time"

	"github.com/berthvm/berth/guestd/protocol"
)

func TestDiskStallText(t *testing.T) {
	since := time.Date(2026, 12, 7, 6, 12, 3, 0, time.UTC)
	now := since.Add(4*time.Minute + 10*time.Second)
	s := &protocol.DiskStall{Device: "vdb", DataDisk: true, Since: since, InFlight: 12, HungTasks: 2, HungTask: "jbd2/vdb-8:215 blocked for more than 120 seconds", Others: []string{"dm-0"}}
	got := DiskStallText(s, now)
	at := since.Local().Format("15:04:05")
	for _, want := range []string{
		"The VM's disk stopped answering: vdb (the data disk",
		"12 requests in flight and completed none since " + at + " (4m10s ago)",
		"Also stalled: dm-0.",
		"2 hung tasks since (the latest: jbd2/vdb-8:215 blocked for more than 120 seconds)",
		"`berth restart`", "`berth stop --force` then `berth start`",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if !strings.Contains(got, "Docker commands are refused") {
		t.Errorf("vdb: the refusal is not told:\n%s", got)
	}
	got = DiskStallText(&protocol.DiskStall{Device: "loop0", Stacked: true, Since: since, InFlight: 1}, now)
	if !strings.HasPrefix(got, "A block device in the VM stopped answering: loop0 (a loop or device-mapper device made in the VM) has had 1 request in flight") ||
		!strings.Contains(got, "docker commands still go to the engine") || !strings.Contains(got, "`berth restart`") ||
		strings.Contains(got, "hung") || strings.Contains(got, "data disk") || strings.Contains(got, "Also") {
		t.Errorf("loop0:\n%s", got)
	}
	ref := DiskStallRefusal(s, now)
	if want := "Berth: the VM's disk (vdb) stopped answering since " + at + " (4m10s ago); run berth restart"; !strings.HasPrefix(ref, want) {
		t.Errorf("refusal %q, want it to start %q", ref, want)
	}
	// A stall from another day names the day.
	if got := DiskStallRefusal(s, since.Add(48*time.Hour)); !strings.Contains(got, since.Local().Format("2006-01-02 15:04:05")) {
		t.Errorf("two days later: %q", got)
	}
}
