// Package reclaim gives the host back what the guest no longer uses. Freed
// memory goes back by itself once the host turns on free page reporting
// on the balloon (the kernel reports free 2 MiB blocks, QEMU drops them),
// but page cache is not free: a build or an image pull leaves the guest's
// memory full of it for good. Memory drops that cache in steps while the
// guest is idle and stops at the first sign of pressure. Trim does the
// same for the data disk: the blocks a deleted image or volume held go
// back to the host's sparse file once the filesystem is trimmed.
package reclaim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/berthvm/berth/guestd/stats"
)

// A MemSample is what the memory policy decides on, read every interval.
type MemSample struct {
	// CPUBusy is the share of CPU time spent busy since the last sample,
	// 0 to 1.
	CPUBusy float64
	// Pressure is the memory pressure stall's "some" avg10, in percent
	// (/proc/pressure/memory): the share of the last 10 s in which a task
	// waited on memory.
	Pressure float64
	// FileCache is the page cache that can be dropped: Active(file) plus
	// Inactive(file). Shmem (tmpfs) is not in it and cannot be dropped.
	FileCache uint64
}

// MemPolicy decides how much page cache to drop after each sample. The
// guest must have been idle for IdleSamples samples in a row; any busy
// sample, or any pressure, starts the count again, so a build that just
// began is never starved of its cache.
type MemPolicy struct {
	IdleSamples int     // samples in a row that must be idle
	MaxBusy     float64 // CPU busy share at or under which a sample is idle
	MaxPressure float64 // memory pressure (percent) at or under which a sample is idle
	Step        uint64  // bytes to drop per idle sample
	Floor       uint64  // page cache kept: the engine's own files stay warm

	idle int
}

// DefaultMemPolicy drops 256 MiB every 5 s once the guest has been idle for
// 20 s, down to 128 MiB of cache: a gigabyte of build cache goes back
// within 40 s of quiet, and an emulated guest's idle engine (a few percent
// of a CPU) counts as quiet.
func DefaultMemPolicy() MemPolicy {
	return MemPolicy{IdleSamples: 4, MaxBusy: 0.10, MaxPressure: 0.5, Step: 256 << 20, Floor: 128 << 20}
}

// Next is how many bytes of cache to drop now (0: none).
func (p *MemPolicy) Next(s MemSample) uint64 {
	if s.CPUBusy > p.MaxBusy || s.Pressure > p.MaxPressure {
		p.idle = 0
		return 0
	}
	if p.idle < p.IdleSamples {
		p.idle++
	}
	if p.idle < p.IdleSamples || s.FileCache <= p.Floor {
		return 0
	}
	return min(p.Step, s.FileCache-p.Floor)
}

// Quiet says whether the last IdleSamples samples were all idle.
func (p *MemPolicy) Quiet() bool { return p.idle >= p.IdleSamples }

// Backoff starts the idle count again: the kernel could not drop what was
// asked, so what is left is in use.
func (p *MemPolicy) Backoff() { p.idle = 0 }

// Memory drops idle page cache through cgroup v2's memory.reclaim on the
// root cgroup, which reclaims as memory pressure would, oldest first.
type Memory struct {
	Proc     string // normally /proc
	Cgroup   string // normally /sys/fs/cgroup
	Interval time.Duration
	Policy   MemPolicy
	Log      *slog.Logger

	busy, total uint64 // the last sample's CPU times
	quiet       atomic.Bool
}

// Quiet says whether the guest has been idle long enough for the memory
// policy to give cache back: other work that should not compete with the
// user's (a trim) waits for it too.
func (m *Memory) Quiet() bool { return m.quiet.Load() }

// Run samples every Interval until ctx ends.
func (m *Memory) Run(ctx context.Context) {
	// Once Run stops on an error nothing tells quiet from busy: work that
	// waits for quiet must not wait for ever.
	defer m.quiet.Store(true)
	t := time.NewTicker(m.Interval)
	defer t.Stop()
	var dropped uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s, err := m.Sample()
		if err != nil {
			m.Log.Warn("memory reclaim stops", "err", err)
			return
		}
		n := m.Policy.Next(s)
		m.quiet.Store(m.Policy.Quiet())
		if n == 0 {
			if dropped >= 1<<20 {
				m.Log.Info("idle page cache given back", "MiB", dropped>>20)
			}
			dropped = 0
			continue
		}
		switch err := m.reclaim(n); {
		case errors.Is(err, syscall.EAGAIN):
			// Less than asked could be dropped: the rest is in use.
			m.Policy.Backoff()
		case err != nil:
			m.Log.Warn("memory reclaim stops", "err", err)
			return
		default:
			dropped += n
		}
	}
}

// Sample reads the CPU times since the last sample, memory pressure and
// the page cache.
func (m *Memory) Sample() (MemSample, error) {
	var s MemSample
	busy, total, _, err := stats.CPUTimes(filepath.Join(m.Proc, "stat"))
	if err != nil {
		return s, err
	}
	if m.total != 0 && total > m.total {
		s.CPUBusy = float64(busy-m.busy) / float64(total-m.total)
	} else {
		s.CPUBusy = 1 // no interval yet: not idle
	}
	m.busy, m.total = busy, total
	if s.Pressure, err = stats.Pressure(filepath.Join(m.Proc, "pressure", "memory")); err != nil {
		return s, err
	}
	mem, err := stats.Meminfo(filepath.Join(m.Proc, "meminfo"))
	if err != nil {
		return s, err
	}
	s.FileCache = mem["Active(file)"] + mem["Inactive(file)"]
	return s, nil
}

func (m *Memory) reclaim(n uint64) error {
	f, err := os.OpenFile(filepath.Join(m.Cgroup, "memory.reclaim"), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("memory.reclaim: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(strconv.FormatUint(n, 10)); err != nil {
		return fmt.Errorf("memory.reclaim %d bytes: %w", n, err)
	}
	return nil
}

// EnableMGLRU turns on the multi-generational LRU where the kernel has it
// (lru_gen): it finds the coldest pages by age rather than by two lists,
// so what memory.reclaim drops is what went unused longest.
func EnableMGLRU(sys string) error {
	p := filepath.Join(sys, "kernel", "mm", "lru_gen", "enabled")
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := os.WriteFile(p, []byte("y"), 0); err != nil {
		return fmt.Errorf("turn on MGLRU: %w", err)
	}
	return nil
}
