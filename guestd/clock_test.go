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
