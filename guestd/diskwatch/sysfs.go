package diskwatch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Counters are one block device's request counters.
type Counters struct {
	// InFlight is the requests issued to the device and not yet completed
	// (reads and writes).
	InFlight uint64
	// Completed counts the requests the device has completed since it
	// appeared: reads, writes, discards and flushes.
	Completed uint64
}

// Stat is what the detector needs of /sys/block/<dev>/stat.
type Stat struct {
	ReadsCompleted    uint64 // field 1
	WritesCompleted   uint64 // field 5
	InFlight          uint64 // field 9
	DiscardsCompleted uint64 // field 12 (kernel 4.18+)
	FlushesCompleted  uint64 // field 16 (kernel 5.5+)
}

// Completed is every kind of completed request.
func (s Stat) Completed() uint64 {
	return s.ReadsCompleted + s.WritesCompleted + s.DiscardsCompleted + s.FlushesCompleted
}

// ParseStat parses /sys/block/<dev>/stat: 11 fields before Linux 4.18,
// 15 until 5.5, 17 since (Documentation/block/stat.rst). Fields are
// counted from 1.
func ParseStat(s string) (Stat, error) {
	f := strings.Fields(s)
	if len(f) < 11 {
		return Stat{}, fmt.Errorf("block stat %q: %d fields, want at least 11", s, len(f))
	}
	n := make([]uint64, len(f))
	for i, v := range f {
		x, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return Stat{}, fmt.Errorf("block stat field %d %q: %w", i+1, v, err)
		}
		n[i] = x
	}
	st := Stat{ReadsCompleted: n[0], WritesCompleted: n[4], InFlight: n[8]}
	if len(n) >= 15 {
		st.DiscardsCompleted = n[11]
	}
	if len(n) >= 17 {
		st.FlushesCompleted = n[15]
	}
	return st, nil
}

// ParseInflight parses /sys/block/<dev>/inflight: "reads writes".
func ParseInflight(s string) (reads, writes uint64, err error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("block inflight %q: want two fields", s)
	}
	if reads, err = strconv.ParseUint(f[0], 10, 64); err == nil {
		writes, err = strconv.ParseUint(f[1], 10, 64)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("block inflight %q: %w", s, err)
	}
	return reads, writes, nil
}

// Watched says whether a block device is one whose stall is worth
// reporting: virtio, SCSI (Hyper-V's disks), Xen and NVMe disks, and the
// device-mapper and loop devices stacked on them. Partitions have no entry
// of their own in /sys/block; ram disks, zram and CD-ROMs are left out.
func Watched(name string) bool {
	for _, p := range []string{"vd", "sd", "xvd", "nvme", "dm-", "loop"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Stacked says whether a device is one made inside the system (loop,
// device-mapper) rather than a disk of the machine.
func Stacked(name string) bool {
	return strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "dm-")
}

// Sysfs reads block devices' counters.
type Sysfs struct {
	// Root is the block class directory, normally /sys/block.
	Root string
	// Match picks the devices to read; nil reads all.
	Match func(name string) bool
}

// Read returns the counters of every matching device. A device that
// vanishes while being read is left out; one whose files do not parse is
// an error.
func (s Sysfs) Read() (map[string]Counters, error) {
	entries, err := os.ReadDir(s.Root)
	if err != nil {
		return nil, fmt.Errorf("block devices: %w", err)
	}
	out := map[string]Counters{}
	for _, e := range entries {
		name := e.Name()
		if s.Match != nil && !s.Match(name) {
			continue
		}
		c, err := s.device(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[name] = c
	}
	return out, nil
}

func (s Sysfs) device(name string) (Counters, error) {
	b, err := os.ReadFile(filepath.Join(s.Root, name, "stat"))
	if err != nil {
		return Counters{}, fmt.Errorf("%s: %w", name, err)
	}
	st, err := ParseStat(string(b))
	if err != nil {
		return Counters{}, fmt.Errorf("%s: %w", name, err)
	}
	c := Counters{InFlight: st.InFlight, Completed: st.Completed()}
	// inflight splits the same count by direction and is what blk-mq
	// devices keep exactly; stat's field 9 is the fallback.
	if b, err := os.ReadFile(filepath.Join(s.Root, name, "inflight")); err == nil {
		r, w, err := ParseInflight(string(b))
		if err != nil {
			return Counters{}, fmt.Errorf("%s: %w", name, err)
		}
		c.InFlight = r + w
	}
	return c, nil
}
