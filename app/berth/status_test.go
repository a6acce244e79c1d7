package main

import (
	"strings"
	"testing"
	"time"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/guestd/protocol"
)

func TestDiskStallStatus(t *testing.T) {
	since := time.Date(2026, 12, 7, 6, 12, 3, 0, time.UTC)
	stall := &protocol.DiskStall{Device: "vdb", DataDisk: true, Since: since, InFlight: 12}
	got := diskStallStatus(control.Status{State: control.Running, DiskStall: stall}, since.Add(90*time.Second))
	for _, want := range []string{
		"disk:    STOPPED ANSWERING (vdb)\n",
		"problem: The VM's disk stopped answering: vdb",
		"since " + since.Local().Format("15:04:05") + " (1m30s ago)",
		"Run `berth restart`", "`berth stop --force` then `berth start`",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	for _, st := range []control.Status{
		{State: control.Running},
		{State: control.Stopping, DiskStall: stall}, // a stop under way says so itself
	} {
		if got := diskStallStatus(st, since); got != "" {
			t.Errorf("%s: %q", st.State, got)
		}
	}
}

func TestCAsStatus(t *testing.T) {
	if got := casStatus(control.Status{}); got != "" {
		t.Errorf("not asked yet: %q", got)
	}
	got := casStatus(control.Status{CAs: &control.CAs{Carried: 2, From: []string{"/etc/ssl/certs/ca-certificates.crt"}}})
	if want := "CAs:     2 of the host's trusted certificates carried into the engine (from /etc/ssl/certs/ca-certificates.crt)\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
