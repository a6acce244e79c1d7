//go:build linux

package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/berthvm/berth/guestd/diskwatch"
	"github.com/berthvm/berth/guestd/protocol"
)

// hungTaskCount is the kernel's count of hung-task reports (Linux 6.15+).
const hungTaskCount = "/proc/sys/kernel/hung_task_detect_count"

// watchDisks watches the block devices for a stall (package diskwatch),
// which health reports to the host. Kernels without hungTaskCount have
// their hung-task reports counted in the kernel log.
func (g *guest) watchDisks(ctx context.Context) {
	hung := &diskwatch.HungTasks{}
	if _, ok := diskwatch.ReadCount(hungTaskCount); !ok {
		if f, err := os.Open("/dev/kmsg"); err != nil {
			g.log.Warn("hung tasks go uncounted", "err", err)
		} else {
			go func() {
				defer f.Close()
				if err := hung.FollowKmsg(ctx, f); err != nil {
					g.log.Warn("hung tasks go uncounted from now", "err", err)
				}
			}()
		}
	}
	w := &diskwatch.Watcher{
		Sysfs:         diskwatch.Sysfs{Root: "/sys/block", Match: diskwatch.Watched},
		HungCountPath: hungTaskCount, Hung: hung, Log: g.log,
	}
	g.mu.Lock()
	g.disks = w
	g.mu.Unlock()
	go w.Run(ctx)
}

// diskStall is the stall to report, if any (under g.mu).
func (g *guest) diskStall() *protocol.DiskStall {
	if g.disks == nil {
		return nil
	}
	return diskwatch.Report(g.disks.Stalls(), filepath.Base(g.dataDev))
}
