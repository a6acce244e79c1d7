//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchVariant is one build of Berth (and optionally a guest setting) in a
// side-by-side comparison.
type benchVariant struct {
	Name     string `json:"name"`
	Bin      string `json:"bin"`
	GuestDir string `json:"guest_dir,omitempty"` // its guest image; BERTH_GUEST_DIR when empty
	Guest    string `json:"guest,omitempty"`     // a shell command run in the guest after start
}

// env is a new home that runs this variant's berth and guest image.
func (v benchVariant) env(t *testing.T) *berthEnv {
	e := newBerthEnv(t)
	e.bin = v.Bin
	if v.GuestDir != "" {
		e.extraEnv = []string{"BERTH_GUEST_DIR=" + v.GuestDir}
	}
	return e
}

// TestBenchCompare measures several Berth builds side by side (make
// bench-compare): berth start until the engine answers, each variant
// started in turn while none other runs; then, all running at once,
// published-port throughput and a docker build while a container holds
// most of the guest's memory, each variant in turn, so that a noisy machine
// slows every variant alike; separate make bench runs differ by a third
// from one to the next, more than most single changes move a figure.
// BERTH_BENCH_COMPARE is a JSON list of variants; the first is the baseline
// of the ratios.
func TestBenchCompare(t *testing.T) {
	spec := os.Getenv("BERTH_BENCH_COMPARE")
	if spec == "" {
		t.Skip(`a benchmark: run make bench-compare BERTH_BENCH_COMPARE='[{"name":…,"bin":…},…]'`)
	}
	var variants []benchVariant
	if err := json.Unmarshal([]byte(spec), &variants); err != nil || len(variants) < 2 {
		t.Fatalf("BERTH_BENCH_COMPARE: want a JSON list of two or more {name, bin, guest_dir, guest}: %v", err)
	}
	rounds := benchRounds(t)
	image := buildBusyboxWithTool(t, "blast")

	// Cold: a new home, its data disk formatted; warm: the same home again.
	cold := make([][]float64, len(variants))
	warm := make([][]float64, len(variants))
	for r := range rounds {
		for k := range variants {
			i := (k + r) % len(variants)
			e := variants[i].env(t)
			cold[i] = append(cold[i], startToReady(e))
			e.berth("stop")
			warm[i] = append(warm[i], startToReady(e))
			e.berth("stop")
			t.Logf("%s start → docker version: cold %.1f s, warm %.1f s", variants[i].Name, cold[i][r], warm[i][r])
		}
	}

	type running struct {
		benchVariant
		e     *berthEnv
		ports []int
		procs map[string]int
	}
	var vms []running
	for _, v := range variants {
		e := v.env(t)
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
		vms = append(vms, running{v, e, p, map[string]int{"daemon": daemonPid(t, e), "QEMU": qemuPid(e)}})
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

	var envs []*berthEnv
	for _, vm := range vms {
		envs = append(envs, vm.e)
	}
	build, stall := buildUnderPressure(t, envs, rounds)
	timeRow := func(name string, samples [][]float64) {
		fmt.Fprintf(&out, "| %-36s |", name)
		base := medianOf(samples[0])
		for i := range samples {
			m := medianOf(samples[i])
			fmt.Fprintf(&out, " %-26s |", fmt.Sprintf("%6.2f s (%.2f)", m, m/base))
		}
		out.WriteString("\n")
	}
	fmt.Fprintf(&out, "seconds, medians of %d rounds (ratio to %s: above 1 is slower)\n", rounds, variants[0].Name)
	timeRow("cold berth start → docker version", cold)
	timeRow("warm berth start → docker version", warm)
	timeRow("docker build, memory held", build)
	timeRow("  its memory stall (PSI some)", stall)
	t.Log(out.String())
	fmt.Print(out.String())
	for i, e := range envs {
		var lines []string
		for _, l := range strings.Split(e.berth("logs", "-n", "2000"), "\n") {
			if low := strings.ToLower(l); strings.Contains(low, "given back") || strings.Contains(low, "trimmed") || strings.Contains(low, "reclaim") || strings.Contains(low, "oom") || strings.Contains(low, "out of memory") {
				lines = append(lines, l)
			}
		}
		t.Logf("%s: the guest's give-back and OOM lines:\n%s", variants[i].Name, strings.Join(lines, "\n"))
	}
}

// pressureDockerfile does real file and CPU work: 96 MiB of random bytes
// hashed, written three times over into one file and read back, then 3000
// small files written and read, and the first file hashed again after them.
const pressureDockerfile = `FROM ` + testImage + `
RUN dd if=/dev/urandom of=/big bs=1M count=96 && cat /big /big /big > /big3 && sha256sum /big && cat /big3 > /dev/null && rm /big3
RUN mkdir /many && for i in $(seq 1 3000); do echo "$i" > /many/$i; done && find /many -type f | xargs cat | sha256sum && sha256sum /big
`

// buildUnderPressure times docker build --no-cache of pressureDockerfile
// on each machine in turn, rounds times, while a container in each holds
// 65 % of its guest's memory in a tmpfs (no swap: it stays). It returns
// each machine's build seconds and the seconds its tasks stalled on
// memory during each build (/proc/pressure/memory's some total). The
// legacy builder: the host's docker CLI may have no buildx.
func buildUnderPressure(t *testing.T, envs []*berthEnv, rounds int) (secs, stall [][]float64) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(pressureDockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, e := range envs {
		held := int(guestMeminfoMiB(e, "MemTotal:") * 0.65)
		e.docker("run", "-d", "--name", "hog", "--tmpfs", fmt.Sprintf("/hold:size=%dm", held+16), testImage, "sleep", "86400")
		e.docker("exec", "hog", "dd", "if=/dev/zero", "of=/hold/fill", "bs=1M", fmt.Sprintf("count=%d", held))
		t.Logf("holding %d MiB; the guest's MemAvailable %.0f MiB, swap: %s", held, guestMeminfoMiB(e, "MemAvailable:"), e.berth("shell", "cat", "/proc/swaps"))
	}
	secs = make([][]float64, len(envs))
	stall = make([][]float64, len(envs))
	for r := range rounds {
		for k := range envs {
			i := (k + r) % len(envs)
			e := envs[i]
			p0 := guestStall(e)
			s := time.Now()
			cmd := exec.Command("docker", "--context", "berth", "build", "--no-cache", "-q", "-t", "berth/pressure", dir)
			cmd.Env = append(e.env(), "DOCKER_BUILDKIT=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("docker build under memory pressure: %v\n%s", err, out)
			}
			d := time.Since(s)
			secs[i] = append(secs[i], d.Seconds())
			stall[i] = append(stall[i], guestStall(e)-p0)
			t.Logf("build %d on machine %d: %s–%s, %.1f s, memory stall %.1f s", r, i, s.Format("15:04:05"), time.Now().Format("15:04:05"), d.Seconds(), stall[i][len(stall[i])-1])
			e.docker("rmi", "berth/pressure")
		}
	}
	return secs, stall
}

// guestMeminfoMiB reads a /proc/meminfo field of the guest, in MiB.
func guestMeminfoMiB(e *berthEnv, field string) float64 {
	for _, l := range strings.Split(e.berth("shell", "cat", "/proc/meminfo"), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	e.t.Fatalf("no %s in the guest's /proc/meminfo", field)
	return 0
}

// guestStall is the seconds the guest's tasks have waited on memory since
// boot (the some line's total of /proc/pressure/memory).
func guestStall(e *berthEnv) float64 {
	for _, f := range strings.Fields(e.berth("shell", "cat", "/proc/pressure/memory")) {
		if v, ok := strings.CutPrefix(f, "total="); ok {
			us, _ := strconv.ParseFloat(v, 64)
			return us / 1e6
		}
	}
	e.t.Fatal("no total in the guest's /proc/pressure/memory")
	return 0
}
