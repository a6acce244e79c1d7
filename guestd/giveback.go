//go:build linux

package main

import (
	"context"
	"time"

	"github.com/berthvm/berth/guestd/reclaim"
)

// trimThreshold is how much a deletion must free on the data disk before
// it is trimmed: an image layer or a volume worth giving back, not every
// log line.
const trimThreshold = 256 << 20

// giveBack hands the host what the guest stops using, once the engine
// runs: idle page cache (free page reporting returns freed memory by
// itself where the host turned it on) and the data disk's freed blocks.
func (g *guest) giveBack(ctx context.Context) {
	if err := reclaim.EnableMGLRU("/sys"); err != nil {
		g.problem(err)
	}
	mem := &reclaim.Memory{Proc: "/proc", Cgroup: "/sys/fs/cgroup", Interval: 5 * time.Second, Policy: reclaim.DefaultMemPolicy(), Log: g.log}
	go mem.Run(ctx)
	g.trim = &reclaim.Trim{Path: dataMount, Interval: 10 * time.Second, Policy: reclaim.TrimPolicy{Threshold: trimThreshold}, Log: g.log}
	go g.trim.Run(ctx)
}

// trimAtShutdown trims what was freed since the last trim, once nothing
// writes to the data disk any more.
func (g *guest) trimAtShutdown() {
	if g.trim == nil { // the engine never ran
		return
	}
	began := time.Now()
	n, err := g.trim.Last()
	if err != nil {
		g.log.Warn("data disk trim at shutdown", "err", err)
		return
	}
	g.log.Info("data disk trimmed at shutdown", "MiB", n>>20, "took", time.Since(began).Round(time.Millisecond))
}
