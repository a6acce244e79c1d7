//go:build linux

package main

import (
	"testing"
	"time"
)

func TestSetOffset(t *testing.T) {
	for d, want := range map[time.Duration][2]int64{
		61*time.Second + 5:      {61, 5},
		-61*time.Second - 5:     {-62, 999999995},
		-250 * time.Millisecond: {-1, 750000000},
		0:                       {0, 0},
	} {
		tx := setOffset(d)
		if tx.Time.Sec != want[0] || tx.Time.Usec != want[1] {
			t.Errorf("step %v: sec %d nsec %d, want %v", d, tx.Time.Sec, tx.Time.Usec, want)
		}
	}
}

func TestBootStep(t *testing.T) {
	host := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		now  time.Time
		want time.Duration
	}{
		{time.Unix(5, 0), host.Sub(time.Unix(5, 0))}, // no RTC: 1970
		{host.Add(-90 * time.Second), 90 * time.Second},
		{host.Add(3 * time.Second), 0}, // booted after the host composed the options
		{host, 0},
	} {
		if got := bootStep(c.now, host.Unix()); got != c.want {
			t.Errorf("clock %v at boot: step %v, want %v", c.now, got, c.want)
		}
	}
	if got := bootStep(time.Unix(5, 0), 0); got != 0 {
		t.Errorf("no host time: step %v, want none", got)
	}
}
