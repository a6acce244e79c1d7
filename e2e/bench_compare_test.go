//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// benchVariant is one build of Berth (and optionally a guest setting) in a
// side-by-side comparison.
type benchVariant struct {
	Name  string `json:"name"`
	Bin   string `json:"bin"`
	Guest string `json:"guest,omitempty"` // a shell command run in the guest after start
}

// TestBenchCompare measures published-port throughput of several Berth
// builds side by side (make bench-compare): all run at once, and each
// transfer goes to each in turn, so that a noisy machine slows every variant
// alike; separate make bench runs differ by a third from one to the next,
// more than most single changes move a figure. BERTH_BENCH_COMPARE is a
// JSON list of variants; the first is the baseline of the ratios.
func TestBenchCompare(t *testing.T) {
	spec := os.Getenv("BERTH_BENCH_COMPARE")
	if spec == "" {
		t.Skip(`a benchmark: run make bench-compare BERTH_BENCH_COMPARE='[{"name":…,"bin":…},…]'`)
	}
	var variants []benchVariant
	if err := json.Unmarshal([]byte(spec), &variants); err != nil || len(variants) < 2 {
		t.Fatalf("BERTH_BENCH_COMPARE: want a JSON list of two or more {name, bin, guest}: %v", err)
	}
	rounds := benchRounds(t)
	image := buildBusyboxWithTool(t, "blast")
	type running struct {
		benchVariant
		ports []int
		procs map[string]int
	}
	var vms []running
	for _, v := range variants {
		e := newBerthEnv(t)
		e.bin = v.Bin
		e.berth("start", "--cpus", "2", "--memory", "2", "--disk", "16")
		if v.Guest != "" {
			t.Logf("%s, in the guest: %s: %s", v.Name, v.Guest, e.berth("shell", "sh", "-c", v.Guest))
		}
		e.docker("load", "-i", image)
		p := freePorts(t, 2)
		e.docker("run", "-d", "--name", "blast", "-p", fmt.Sprintf("%d:9000", p[0]), "-p", fmt.Sprintf("%d:9001", p[1]), testImage, "blast")
		// An empty upload answered "0" is the whole path working.
		for s := time.Now(); ; time.Sleep(10 * time.Millisecond) {
			_, err := transfer(fmt.Sprintf("127.0.0.1:%d", p[1]), false, 0, 1)
			if err == nil {
				break
			}
			if time.Since(s) > time.Minute {
				t.Fatalf("%s: the published port does not answer: %v", v.Name, err)
			}
		}
		vms = append(vms, running{v, p, map[string]int{"daemon": daemonPid(t, e), "QEMU": qemuPid(e)}})
	}

	const size = 200_000_000
	var out strings.Builder
	fmt.Fprintf(&out, "\nBENCH-COMPARE medians of %d rounds, MB/s (ratio to %s) [host CPU s per transfer: daemon + QEMU]\n", rounds, variants[0].Name)
	fmt.Fprintf(&out, "| %-36s |", "transfer (200 MB)")
	for _, v := range variants {
		fmt.Fprintf(&out, " %-26s |", v.Name)
	}
	out.WriteString("\n")
	for _, c := range transferKinds {
		speed := make([][]float64, len(vms))
		cpu := make([][]float64, len(vms))
		for r := range rounds {
			for k := range vms {
				i := (k + r) % len(vms) // a different variant goes first each round
				port := vms[i].ports[0]
				if !c.download {
					port = vms[i].ports[1]
				}
				before := cpuOf(t, vms[i].procs)
				d, err := transfer(fmt.Sprintf("127.0.0.1:%d", port), c.download, size, c.streams)
				if err != nil {
					t.Errorf("%s, %s: %v", vms[i].Name, c.name, err)
					continue
				}
				after := cpuOf(t, vms[i].procs)
				speed[i] = append(speed[i], size/1e6/d.Seconds())
				cpu[i] = append(cpu[i], after["daemon"]-before["daemon"]+after["QEMU"]-before["QEMU"])
			}
		}
		fmt.Fprintf(&out, "| %-36s |", c.name)
		base := medianOf(speed[0])
		for i := range vms {
			m := medianOf(speed[i])
			fmt.Fprintf(&out, " %-26s |", fmt.Sprintf("%6.1f (%.2f) [%5.1f]", m, m/base, medianOf(cpu[i])))
		}
		out.WriteString("\n")
	}
	t.Log(out.String())
	fmt.Print(out.String())
}
