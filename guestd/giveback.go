//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berthvm/berth/guestd/engine"
	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/guestd/reclaim"
	"github.com/berthvm/berth/guestd/stats"
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
	trim := &reclaim.Trim{Path: dataMount, Interval: 10 * time.Second, Policy: reclaim.TrimPolicy{Threshold: trimThreshold}, Log: g.log, Quiet: mem.Quiet}
	g.mu.Lock()
	g.trim = trim
	g.mu.Unlock()
	go trim.Run(ctx)
}

// errNoEngine answers the data disk's calls before the engine runs on it.
var errNoEngine = errors.New("the engine is not running on the data disk yet")

// trimmer is the data disk's trim, once the engine runs.
func (g *guest) trimmer() *reclaim.Trim {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.trim
}

// trimNow serves the guest API's trim.
func (g *guest) trimNow() (uint64, error) {
	t := g.trimmer()
	if t == nil {
		return 0, errNoEngine
	}
	return t.Now()
}

// diskUse serves the guest API's disk use.
func (g *guest) diskUse() (protocol.DiskUse, error) {
	if g.trimmer() == nil {
		return protocol.DiskUse{}, errNoEngine
	}
	fs, err := stats.DiskUsage(dataMount)
	if err != nil {
		return protocol.DiskUse{}, err
	}
	logs, err := engine.LogBytes(engine.ContainersDir)
	if err != nil {
		return protocol.DiskUse{}, fmt.Errorf("container logs: %w", err)
	}
	return protocol.DiskUse{Filesystem: fs, Logs: logs}, nil
}

// trimAtShutdown trims what was freed since the last trim, once nothing
// writes to the data disk any more.
func (g *guest) trimAtShutdown() {
	t := g.trimmer()
	if t == nil { // the engine never ran
		return
	}
	began := time.Now()
	n, err := t.Last()
	if err != nil {
		g.log.Warn("data disk trim at shutdown", "err", err)
		return
	}
	g.log.Info("data disk trimmed at shutdown", "MiB", n>>20, "took", time.Since(began).Round(time.Millisecond))
}
