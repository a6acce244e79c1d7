// Package stats reads the guest's resource use from /proc and statfs.
package stats

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berthvm/berth/guestd/protocol"
)

// Reader reads stats from a proc directory (normally /proc).
type Reader struct {
	Proc     string
	DataDisk string // mount point of the data disk
	Interval time.Duration
}

// Read samples CPU time over r.Interval and reads the rest once.
func (r Reader) Read() (protocol.Stats, error) {
	var s protocol.Stats
	busy0, total0, cpus, err := CPUTimes(filepath.Join(r.Proc, "stat"))
	if err != nil {
		return s, err
	}
	time.Sleep(r.Interval)
	busy1, total1, _, err := CPUTimes(filepath.Join(r.Proc, "stat"))
	if err != nil {
		return s, err
	}
	s.CPUs = cpus
	if total1 > total0 {
		s.CPUPercent = 100 * float64(busy1-busy0) / float64(total1-total0)
	}
	if b, err := os.ReadFile(filepath.Join(r.Proc, "loadavg")); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			s.Load1, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	var detail protocol.MemoryDetail
	if s.Memory, detail, err = memory(filepath.Join(r.Proc, "meminfo")); err != nil {
		return s, err
	}
	if p, err := Pressure(filepath.Join(r.Proc, "pressure", "memory")); err == nil {
		detail.Pressure, detail.HasPressure = p, true
	}
	s.MemoryDetail = &detail
	if r.DataDisk != "" {
		if s.DataDisk, err = DiskUsage(r.DataDisk); err != nil {
			return s, err
		}
	}
	return s, nil
}

// CPUTimes sums the aggregate "cpu" line of /proc/stat (path): busy is
// everything but idle and iowait; cpus counts the per-CPU lines.
func CPUTimes(path string) (busy, total uint64, cpus int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("cpu stats: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	found := false
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		switch {
		case fields[0] == "cpu":
			found = true
			for i, v := range fields[1:] {
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return 0, 0, 0, fmt.Errorf("cpu stats: %q: %w", sc.Text(), err)
				}
				// guest and guest_nice (8, 9) are already counted in user.
				if i >= 8 {
					break
				}
				total += n
				if i != 3 && i != 4 { // idle, iowait
					busy += n
				}
			}
		case strings.HasPrefix(fields[0], "cpu"):
			cpus++
		}
	}
	if !found {
		return 0, 0, 0, fmt.Errorf("cpu stats: no cpu line in %s", path)
	}
	return busy, total, cpus, sc.Err()
}

func memory(path string) (protocol.Usage, protocol.MemoryDetail, error) {
	kv, err := Meminfo(path)
	if err != nil {
		return protocol.Usage{}, protocol.MemoryDetail{}, err
	}
	total, avail := kv["MemTotal"], kv["MemAvailable"]
	if total == 0 {
		return protocol.Usage{}, protocol.MemoryDetail{}, fmt.Errorf("memory stats: no MemTotal in %s", path)
	}
	avail = min(avail, total)
	// Cached counts tmpfs (Shmem), which no reclaim drops.
	cache := kv["Cached"] + kv["Buffers"]
	cache -= min(kv["Shmem"], cache)
	return protocol.Usage{Total: total, Used: total - avail}, protocol.MemoryDetail{Available: avail, Cache: cache}, nil
}

// Meminfo reads /proc/meminfo (path) into bytes by field name.
func Meminfo(path string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("memory stats: %w", err)
	}
	kv := map[string]uint64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err == nil {
			kv[k] = n * 1024
		}
	}
	return kv, nil
}

// Pressure reads the "some" line's avg10 from a PSI file
// (/proc/pressure/memory): the share of the last 10 s, in percent, in
// which a task waited for memory.
func Pressure(path string) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("memory pressure: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "some" {
			continue
		}
		v, ok := strings.CutPrefix(fields[1], "avg10=")
		if !ok {
			break
		}
		return strconv.ParseFloat(v, 64)
	}
	return 0, fmt.Errorf("memory pressure: no some avg10 in %s", path)
}
