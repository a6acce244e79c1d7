//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStallRepro runs, on fresh machines, a docker workload like the one
// that once stalled the guest's data disk under emulation (container,
// image and volume churn with many fsyncs), and counts the runs in which
// berth status reports a disk stall. It measures a rate, so it is no part
// of make e2e: `make stall-repro RUNS=10 MINUTES=15` (BERTH_STALL_REPRO=
// "runs,minutes"; BERTH_STALL_MACHINE holds berth start's flags).
func TestStallRepro(t *testing.T) {
	spec := os.Getenv("BERTH_STALL_REPRO")
	if spec == "" {
		t.Skip("a reproduction run: make stall-repro RUNS=N MINUTES=M")
	}
	runsS, minutesS, _ := strings.Cut(spec, ",")
	runs, err1 := strconv.Atoi(runsS)
	minutes, err2 := strconv.ParseFloat(minutesS, 64)
	if err1 != nil || err2 != nil || runs < 1 || minutes <= 0 {
		t.Fatalf("BERTH_STALL_REPRO=%q: want \"runs,minutes\", such as \"10,15\"", spec)
	}
	machine := strings.Fields(os.Getenv("BERTH_STALL_MACHINE"))
	image := buildBusybox(t)
	stalled := 0
	var lines []string
	for i := 1; i <= runs; i++ {
		t.Run(fmt.Sprintf("run%d", i), func(t *testing.T) {
			line := stallRun(t, image, machine, time.Duration(minutes*float64(time.Minute)))
			if strings.Contains(line, "STALLED") {
				stalled++
			}
			lines = append(lines, fmt.Sprintf("run %d: %s", i, line))
			t.Log("STALL " + lines[len(lines)-1])
		})
	}
	flags := strings.Join(machine, " ")
	if flags == "" {
		flags = "the defaults"
	}
	t.Logf("STALL reproduced in %d of %d runs of %.0f min (berth start: %s)\n%s", stalled, runs, minutes, flags, strings.Join(lines, "\n"))
}

// stallRun boots a machine, churns until d has passed or a stall is
// reported, and says which, with the guest's evidence of a stall.
func stallRun(t *testing.T, image string, machine []string, d time.Duration) string {
	e := newBerthEnv(t)
	e.berth(append([]string{"start"}, machine...)...)
	e.docker("load", "-i", image)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	began := time.Now()

	var wg sync.WaitGroup
	var mu sync.Mutex
	calls, failures := 0, 0
	for w, work := range stallWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				for _, args := range work(w, n) {
					// A wedged engine is refused by the daemon's gate; the
					// bound is for a gate that failed to close.
					cctx, ccancel := context.WithTimeout(ctx, 5*time.Minute)
					cmd := exec.CommandContext(cctx, "docker", append([]string{"--context", "berth"}, args...)...)
					cmd.Env = e.env()
					err := cmd.Run()
					ccancel()
					mu.Lock()
					calls++
					if err != nil && ctx.Err() == nil {
						failures++
					}
					mu.Unlock()
				}
			}
		}()
	}

	result := ""
	for ctx.Err() == nil && result == "" {
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
		}
		if st := e.status(); st.DiskStall != nil {
			s := st.DiskStall
			inflight, _ := e.berthErr("shell", "cat", "/sys/block/"+s.Device+"/inflight")
			dmesg, _ := e.berthErr("shell", "sh", "-c", "dmesg | grep -iE 'blocked for more than|virtio|blk' | tail -n 20")
			result = fmt.Sprintf("STALLED after %v of churn: %s (data disk %v) since %s, %d in flight (inflight %q), hung tasks %d (%s)\n%s",
				time.Since(began).Round(time.Second), s.Device, s.DataDisk, s.Since.Format(time.RFC3339), s.InFlight,
				strings.TrimSpace(inflight), s.HungTasks, s.HungTask, dmesg)
		}
	}
	cancel()
	if result != "" {
		// The workers' docker calls are refused now; a forced stop ends
		// the machine without waiting on the disk.
		e.berthErr("stop", "--force")
	}
	wg.Wait()
	if result == "" {
		result = fmt.Sprintf("no stall in %v", d)
	}
	return fmt.Sprintf("%s; %d docker calls, %d failed", result, calls, failures)
}

// stallWorkers each give the docker commands of one round of their churn:
// appends with a sync after each to a volume, containers that write and
// fsync in their own layer and are removed, and images committed and
// removed beside volumes made and removed.
var stallWorkers = []func(w, n int) [][]string{
	func(w, n int) [][]string {
		return [][]string{{"run", "--rm", "-v", fmt.Sprintf("churn%d:/d", n%4), testImage, "sh", "-c",
			"i=0; while [ $i -lt 100 ]; do echo $i >> /d/lines; sync; i=$((i+1)); done"}}
	},
	func(w, n int) [][]string {
		name := fmt.Sprintf("writer%d-%d", w, n)
		return [][]string{
			{"run", "-d", "--name", name, testImage, "sh", "-c", "dd if=/dev/urandom of=/blob bs=64k count=160 conv=fsync; sleep 2"},
			{"wait", name},
			{"rm", "-f", name},
		}
	},
	func(w, n int) [][]string {
		name := fmt.Sprintf("committed%d-%d", w, n)
		tag := fmt.Sprintf("berth/churn:%d", n)
		vol := fmt.Sprintf("scratch%d", n)
		return [][]string{
			{"volume", "create", vol},
			{"run", "--name", name, "-v", vol + ":/v", testImage, "sh", "-c", "dd if=/dev/zero of=/v/f bs=64k count=80 conv=fsync; echo x > /layer; sync"},
			{"commit", name, tag},
			{"rm", "-f", name},
			{"image", "rm", tag},
			{"volume", "rm", vol},
		}
	},
}
