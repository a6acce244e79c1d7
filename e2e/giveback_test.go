//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthvm/berth/app/diskuse"
)

// TestGiveBack checks that the VM hands back to the host what the guest
// stops using, in one boot:
//   - memory a container touched, once it exits: the guest reports the
//     freed pages (free page reporting on the balloon) and QEMU drops them;
//   - page cache left by writing a file, once the guest is idle: guestd
//     drops it (memory.reclaim) and the freed pages go back the same way;
//   - the data disk's blocks a deleted volume held: guestd trims the
//     filesystem and the discards punch holes in the host's sparse file;
//   - what a stopped container, an unused volume and stale build cache
//     hold, seen by `berth df` and given back at once by `berth reclaim`.
//
// What is measured is the resident part of QEMU's mapping of the guest's
// RAM (from smaps: the memfd shared with virtiofsd, or anonymous memory),
// and logged beside QEMU's whole resident set (smaps_rollup). Under
// emulation QEMU also holds a translation cache of up to 1 GiB that grows
// with the code the guest runs: hundreds of MiB that are not the guest's
// memory, and that no guest can give back.
func TestGiveBack(t *testing.T) {
	t.Parallel()
	e := newBerthEnv(t)
	withCLIPlugins(t, e) // a BuildKit build, which leaves build cache
	image := buildBusybox(t)
	const memGiB = 3
	e.berth("start", "--cpus", "2", "--memory", strconv.Itoa(memGiB), "--disk", "8")
	e.docker("load", "-i", image)
	q := qemuOf(t, qemuPid(e), memGiB<<10)

	t.Run("memory a container touched", func(t *testing.T) {
		before := q.settled()
		t.Logf("guest memory before: %s", guestMem(e))
		// 1 GiB in a tmpfs: memory the container holds until it ends.
		e.docker("run", "-d", "--name", "toucher", "--tmpfs", "/t:size=1100m", testImage,
			"sh", "-c", "dd if=/dev/zero of=/t/fill bs=1M count=1024 2>/dev/null && touch /t/done && exec sleep 100000")
		waitGuest(t, e, 3*time.Minute, "exec", "toucher", "test", "-e", "/t/done")
		peak := q.ram()
		if peak < before+768 {
			t.Fatalf("the guest's RAM went from %.0f to only %.0f MiB resident with 1 GiB touched: the test touched nothing", before, peak)
		}
		t.Logf("guest memory at the peak: %s", guestMem(e))
		e.docker("rm", "-f", "toucher")
		after, took := q.waitRAM(before+256, 60*time.Second)
		t.Logf("guest memory after: %s", guestMem(e))
		t.Logf("GIVEBACK memory: guest RAM resident in QEMU before %.0f MiB, peak %.0f MiB with 1 GiB touched, %.0f MiB %.1f s after the container ended (QEMU's whole RSS now %.0f MiB)",
			before, peak, after, took.Seconds(), q.rss())
		if after > before+256 {
			t.Errorf("the guest's RAM stayed at %.0f MiB resident for 60 s after the container ended, %.0f MiB over its %.0f before (bound 256)", after, after-before, before)
		}
	})

	t.Run("idle page cache", func(t *testing.T) {
		before := q.settled()
		// A file written and kept: its pages stay cached in the guest.
		e.docker("volume", "create", "cache")
		e.docker("run", "--rm", "-v", "cache:/v", testImage, "dd", "if=/dev/zero", "of=/v/file", "bs=1M", "count=1024")
		peak := q.ram()
		if peak < before+512 {
			t.Fatalf("the guest's RAM went from %.0f to only %.0f MiB resident with 1 GiB written: nothing was cached", before, peak)
		}
		// The idle wait (20 s), then 1 GiB in 256 MiB steps every 5 s.
		after, took := q.waitRAM(before+256, 3*time.Minute)
		t.Logf("GIVEBACK page cache: guest RAM resident in QEMU before %.0f MiB, %.0f MiB with 1 GiB cached, %.0f MiB %.1f s later (QEMU's whole RSS now %.0f MiB)",
			before, peak, after, took.Seconds(), q.rss())
		if after > before+256 {
			t.Errorf("the guest's RAM stayed at %.0f MiB resident for 3 min after 1 GiB was cached, %.0f MiB over its %.0f before (bound 256)", after, after-before, before)
		}
		e.docker("volume", "rm", "cache")
	})

	t.Run("disk a volume freed", func(t *testing.T) {
		disk := dataDisk(e)
		// The cache volume's gigabyte goes back once the guest is quiet.
		before, took := waitAllocated(t, disk, 256, 2*time.Minute)
		t.Logf("the cache volume's space went back to the host within %.1f s (%.0f MiB allocated)", took.Seconds(), before)
		if before > 256 {
			t.Errorf("the removed cache volume's gigabyte is still on the host 2 min later: %.0f MiB allocated", before)
		}
		e.docker("volume", "create", "big")
		e.docker("run", "--rm", "-v", "big:/v", testImage, "sh", "-c", "dd if=/dev/zero of=/v/file bs=1M count=2048 2>/dev/null && sync")
		peak := allocatedMiB(t, disk)
		if peak < before+1536 {
			t.Fatalf("the data disk's file went from %.0f to only %.0f MiB allocated with 2 GiB written", before, peak)
		}
		e.docker("volume", "rm", "big")
		// Within 10 % of before; on a new disk that held little, within
		// 128 MiB: ext4's journal takes up host blocks as it is written
		// round, and the journal is never trimmed.
		bound := before + max(before/10, 128)
		after, took := waitAllocated(t, disk, bound, 2*time.Minute)
		t.Logf("GIVEBACK disk: data disk file allocated %.0f MiB before, %.0f MiB with a 2 GiB volume, %.0f MiB %.1f s after it was removed", before, peak, after, took.Seconds())
		if after > bound {
			t.Errorf("the data disk's file still has %.0f MiB allocated 2 min after the volume went, over %.0f (10 %% above %.0f before)", after, bound, before)
		}
	})

	t.Run("reclaim space", func(t *testing.T) {
		disk := dataDisk(e)
		e.berth("shell", "sync")
		time.Sleep(15 * time.Second) // a trim the big volume's removal started
		before := allocatedMiB(t, disk)
		// What a day of work leaves: a stopped container's writes, an
		// unused volume, build cache of an image since deleted.
		e.docker("run", "--name", "stopped", testImage, "dd", "if=/dev/zero", "of=/layer", "bs=1M", "count=512")
		e.docker("volume", "create", "unused")
		e.docker("run", "--rm", "-v", "unused:/v", testImage, "dd", "if=/dev/zero", "of=/v/file", "bs=1M", "count=512")
		ctx := t.TempDir()
		os.WriteFile(ctx+"/Dockerfile", []byte("FROM "+testImage+"\nRUN dd if=/dev/zero of=/blob bs=1M count=256\n"), 0o644)
		e.docker("build", "-t", "bloat", ctx)
		e.docker("rmi", "bloat")
		e.berth("shell", "sync")
		peak := allocatedMiB(t, disk)

		var r diskuse.Report
		if err := json.Unmarshal([]byte(e.berth("df", "--json")), &r); err != nil {
			t.Fatal(err)
		}
		t.Logf("berth df:\n%s", e.berth("df"))
		frees := map[diskuse.Kind]int64{}
		for _, c := range r.Categories {
			frees[c.Kind] = c.Frees
		}
		if frees[diskuse.Containers] < 500e6 || frees[diskuse.Volumes] < 500e6 || frees[diskuse.BuildCache] < 250e6 || r.Guest.Filesystem.Used < 1<<30 {
			t.Errorf("berth df does not see the stopped container's 512 MiB, the volume's and the build cache's 256 MiB: %+v", r)
		}
		if got := float64(r.Host.Allocated) / (1 << 20); got < peak-64 || got > peak+256 {
			t.Errorf("berth df says the disk file takes %.0f MiB; du says %.0f", got, peak)
		}
		if out := e.berth("reclaim", "--dry-run", "--what", "all"); !strings.Contains(out, "1 unused volumes") {
			t.Errorf("the dry run does not name the volume:\n%s", out)
		}
		if e.docker("ps", "-aq", "--filter", "name=stopped") == "" {
			t.Fatal("the dry run removed the container")
		}
		began := time.Now()
		out := e.berth("reclaim", "--what", "all", "--yes")
		took := time.Since(began)
		after := allocatedMiB(t, disk)
		t.Logf("berth reclaim --what all (%.1f s):\n%s", took.Seconds(), out)
		t.Logf("GIVEBACK reclaim: data disk file allocated %.0f MiB before, %.0f MiB with a stopped container, an unused volume and build cache, %.0f MiB right after berth reclaim (%.1f s)", before, peak, after, took.Seconds())
		if !strings.Contains(out, "The host got back") || !strings.Contains(out, "Removed 1 volumes") {
			t.Errorf("berth reclaim's report:\n%s", out)
		}
		if bound := before + max(before/10, 128); after > bound {
			t.Errorf("right after berth reclaim the data disk's file has %.0f MiB allocated, over %.0f (10 %% above %.0f before)", after, bound, before)
		}
	})

	e.berth("stop")
	if logs := e.berth("logs", "-n", "400"); !strings.Contains(logs, "data disk trimmed at shutdown") {
		t.Errorf("guestd did not trim the data disk at shutdown; berth logs:\n%s", logs)
	}
}

// qemuMem reads a QEMU's memory: the resident part of its mapping of the
// guest's RAM, found by its size, and its whole resident set.
type qemuMem struct {
	t      *testing.T
	pid    int
	ramKiB int // the guest's RAM, the size of its mapping
}

func qemuOf(t *testing.T, pid, ramMiB int) *qemuMem {
	if pid == 0 {
		t.Fatal("no QEMU runs for this home")
	}
	q := &qemuMem{t: t, pid: pid, ramKiB: ramMiB << 10}
	q.ram() // fails now if the mapping is not found
	return q
}

// ram is how much of the guest's RAM is resident in QEMU, in MiB.
func (q *qemuMem) ram() float64 {
	q.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", q.pid))
	if err != nil {
		q.t.Fatal(err)
	}
	size := -1
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) < 2:
		case f[0] == "Size:":
			size, _ = strconv.Atoi(f[1])
		case f[0] == "Rss:" && size == q.ramKiB:
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	q.t.Fatalf("no mapping of %d KiB (the guest's RAM) in QEMU's smaps", q.ramKiB)
	return 0
}

// rss is QEMU's whole resident set in MiB, shared (memfd) pages counted.
func (q *qemuMem) rss() float64 {
	q.t.Helper()
	return procMiB(q.t, fmt.Sprintf("/proc/%d/smaps_rollup", q.pid), "Rss:")
}

// settled waits (up to 2 min) until the guest's resident RAM has changed
// by less than 16 MiB over 20 s, so that what boot and the last step left
// in the guest's cache has gone back first, and returns it.
func (q *qemuMem) settled() float64 {
	q.t.Helper()
	began := time.Now()
	last := q.ram()
	for time.Since(began) < 2*time.Minute {
		time.Sleep(20 * time.Second)
		now := q.ram()
		if now-last < 16 && last-now < 16 {
			return now
		}
		last = now
	}
	return last
}

// waitRAM waits up to limit for the guest's resident RAM to fall to at
// most bound MiB and returns the last reading and how long it waited.
func (q *qemuMem) waitRAM(bound float64, limit time.Duration) (float64, time.Duration) {
	q.t.Helper()
	began := time.Now()
	ram := q.ram()
	for ram > bound && time.Since(began) < limit {
		time.Sleep(time.Second)
		ram = q.ram()
	}
	return ram, time.Since(began)
}

// guestMem is the guest's /proc/meminfo lines that say where its memory is.
func guestMem(e *berthEnv) string {
	out, err := e.berthErr("shell", "grep", "-E", "^(MemFree|Cached|Shmem|AnonPages|Active\\(file\\)|Inactive\\(file\\)|Slab):", "/proc/meminfo")
	if err != nil {
		return err.Error()
	}
	return strings.Join(strings.Fields(out), " ")
}

// waitAllocated waits up to limit for the (sparse) file at path to have
// at most bound MiB on the host's disk, and returns what it has then.
func waitAllocated(t *testing.T, path string, bound float64, limit time.Duration) (float64, time.Duration) {
	began := time.Now()
	mib := allocatedMiB(t, path)
	for time.Since(began) < limit && mib > bound {
		time.Sleep(2 * time.Second)
		mib = allocatedMiB(t, path)
	}
	return mib, time.Since(began)
}

// allocatedMiB is how much of a (sparse) file is on the host's disk.
func allocatedMiB(t *testing.T, path string) float64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return float64(st.Blocks) * 512 / (1 << 20)
}

// waitGuest runs a docker command until it succeeds, for up to limit.
func waitGuest(t *testing.T, e *berthEnv, limit time.Duration, args ...string) {
	t.Helper()
	began := time.Now()
	for {
		out, err := e.dockerErr(args...)
		if err == nil {
			return
		}
		if time.Since(began) > limit {
			t.Fatalf("docker %s did not succeed in %v: %v\n%s", strings.Join(args, " "), limit, err, out)
		}
		time.Sleep(time.Second)
	}
}
