//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthvm/berth/e2e/vm"
	"github.com/berthvm/berth/guestd/protocol"
)

// benchRow is one line of the table: Berth's figure, the reference's
// measured in the same run, and their ratio (figure/reference; the unit says
// which way is better).
type benchRow struct {
	Name      string  `json:"name"`
	Unit      string  `json:"unit"`
	Figure    float64 `json:"figure"`
	Reference float64 `json:"reference,omitempty"`
	RefName   string  `json:"reference_name,omitempty"`
	Ratio     float64 `json:"ratio,omitempty"`
	Goal      string  `json:"goal,omitempty"`
	// CPU is the host CPU seconds each side's processes used per sample
	// (Berth: daemon and QEMU; the reference: its QEMU), medians.
	CPU map[string]float64 `json:"cpu_s,omitempty"`
}

type bench struct {
	t      *testing.T
	rounds int
	size   benchSize
	// vcpus is how many vCPUs Berth's VM got (an emulated one may get
	// fewer than asked): the references are given as many.
	vcpus int
	rows  []benchRow
}

// benchSize is how much each group measures: make bench's full size, or
// the smoke that `make test` runs so that the benchmarks' code keeps
// working (its figures compare nothing).
type benchSize struct {
	transfer     int64 // bytes per transfer
	connects     int
	autoForwards int
	apiCalls     int
	share        shareSize
	idle         time.Duration
	warm         bool // a warm start too (the smoke leaves out its two boots)
}

var (
	fullBench  = benchSize{transfer: 200_000_000, connects: 1000, autoForwards: 10, apiCalls: 10, share: fullShare, idle: 60 * time.Second, warm: true}
	smokeBench = benchSize{transfer: 20_000_000, connects: 50, autoForwards: 2, apiCalls: 2, share: shareSize{MiB: 32, Files: 500}, idle: 10 * time.Second}
)

// benchRounds is BERTH_BENCH_ROUNDS, 3 when unset.
func benchRounds(t *testing.T) int {
	r := os.Getenv("BERTH_BENCH_ROUNDS")
	if r == "" {
		return 3
	}
	n, err := strconv.Atoi(r)
	if err != nil || n < 1 {
		t.Fatalf("BERTH_BENCH_ROUNDS=%q: want a positive number", r)
	}
	return n
}

func (b *bench) add(name, unit string, fig, ref float64, refName, goal string) *benchRow {
	r := benchRow{Name: name, Unit: unit, Figure: fig, Reference: ref, RefName: refName, Goal: goal}
	if ref > 0 {
		r.Ratio = fig / ref
	}
	b.rows = append(b.rows, r)
	b.t.Logf("%-44s %10.2f %-6s ref %10.2f  ratio %.2f", name, fig, unit, ref, r.Ratio)
	return &b.rows[len(b.rows)-1]
}

func (b *bench) table() string {
	var s strings.Builder
	fmt.Fprintf(&s, "| %-46s | %12s | %12s | %6s | %s |\n", "row", "Berth", "reference", "ratio", "reference is / goal")
	fmt.Fprintf(&s, "|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 48), strings.Repeat("-", 14), strings.Repeat("-", 14), strings.Repeat("-", 8), "---")
	for _, r := range b.rows {
		ref, ratio := "—", "—"
		if r.Reference > 0 {
			ref, ratio = fmt.Sprintf("%.2f %s", r.Reference, r.Unit), fmt.Sprintf("%.2f", r.Ratio)
		}
		note := r.RefName
		if r.Goal != "" {
			note = strings.TrimPrefix(note+"; goal "+r.Goal, "; ")
		}
		fmt.Fprintf(&s, "| %-46s | %12s | %12s | %6s | %s |\n", r.Name, fmt.Sprintf("%.2f %s", r.Figure, r.Unit), ref, ratio, note)
	}
	for _, r := range b.rows {
		if len(r.CPU) > 0 {
			fmt.Fprintf(&s, "host CPU seconds, %s: %s\n", r.Name, cpuText(r.CPU))
		}
	}
	return s.String()
}

// TestBench measures Berth against references, each pair side by side in
// one run and interleaved (Berth, reference, Berth, …) so that a busy
// machine slows both alike (make bench). It prints one table of medians and
// ratios and writes it as JSON into BERTH_BENCH_OUT; it asserts nothing
// about speed. BERTH_BENCH=1 runs every group; a comma list (start, net,
// api, share, idle) runs those; smoke runs every group once at a small
// size (make test: the code runs, the figures compare nothing).
func TestBench(t *testing.T) {
	spec := os.Getenv("BERTH_BENCH")
	if spec == "" {
		t.Skip("a benchmark: run `make bench`")
	}
	smoke := spec == "smoke"
	want := func(group string) bool {
		return spec == "1" || smoke || slices.Contains(strings.Split(spec, ","), group)
	}
	b := &bench{t: t, rounds: benchRounds(t), size: fullBench}
	if smoke {
		// Its figures compare nothing, so it may share the machine with
		// the suite's other parallel tests rather than hold it alone.
		t.Parallel()
		b.rounds, b.size = 1, smokeBench
	}
	ctx, cancel := context.WithTimeout(context.Background(), 110*time.Minute)
	defer cancel()
	image := buildBusyboxWithTool(t, "blast")

	if want("start") {
		benchStart(ctx, b)
	}
	shared := t.TempDir()
	e := newBerthEnv(t)
	if os.Getenv("BERTH_PPROF") == "1" {
		e.extraEnv = append(e.extraEnv, "BERTH_PPROF=1")
	}
	home, _ := os.UserHomeDir()
	e.berth("start", "--cpus", "2", "--memory", "2", "--disk", "16", "--unmount", home, "--unmount", os.TempDir(), "--mount", shared)
	b.vcpus = guestCPUs(t, e)
	// BERTH_BENCH_GUEST is a shell command run in the guest before
	// measuring: a way to see one guest setting's effect on the figures
	// (e.g. eth0's queueing discipline).
	if c := os.Getenv("BERTH_BENCH_GUEST"); c != "" {
		t.Logf("in the guest: %s: %s", c, e.berth("shell", "sh", "-c", c))
	}
	e.docker("load", "-i", image)
	if want("net") || want("api") {
		// The reference: the same image under QEMU's own user network, its
		// engine and the container's ports forwarded by QEMU (hostfwd).
		ref, err := vm.Boot(ctx, vm.Options{
			GuestDir: guestDir(t), DataDisk: filepath.Join(t.TempDir(), "data.img"), DataSize: 16 << 30,
			StateDir: t.TempDir(), CPUs: b.vcpus, MemoryMB: 2048, UserNet: []int{9000, 9001, 9002},
		}, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(ref.Kill)
		cgroupNote := likeLibvirt(ref.PID())
		if _, err := ref.WaitReady(ctx); err != nil {
			dumpSerial(t, ref.SerialLog)
			t.Fatal(err)
		}
		docker(t, ref.DockerSock, "load", "-i", image)
		docker(t, ref.DockerSock, "run", "-d", "--name", "blast", "-p", "9000-9002:9000-9002", testImage, "blast")
		refAddr := func(port int) string { return fmt.Sprintf("127.0.0.1:%d", ref.HostPorts[port]) }

		ports := freePorts(t, 3)
		e.docker("run", "-d", "--name", "blast", "-p", fmt.Sprintf("%d:9000", ports[0]), "-p", fmt.Sprintf("%d:9001", ports[1]),
			"-p", fmt.Sprintf("%d:9002", ports[2]), testImage, "blast")
		berthAddr := func(port int) string { return fmt.Sprintf("127.0.0.1:%d", ports[port-9000]) }
		for _, a := range []string{berthAddr(9002), refAddr(9002)} {
			if _, err := waitAnswer(a, 2*time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		if want("net") {
			bs := netSide{name: "Berth", addr: berthAddr, procs: map[string]int{"daemon": daemonPid(t, e), "QEMU": qemuPid(e)}}
			if os.Getenv("BERTH_PPROF") == "1" {
				bs.pprof = filepath.Join(e.home, "run", "pprof.sock")
			}
			benchNet(b, bs, netSide{name: "reference", addr: refAddr, procs: map[string]int{"QEMU": ref.PID()}, note: cgroupNote})
			benchAutoForward(b, e)
		}
		if want("api") {
			benchAPI(b, e, ref, cgroupNote)
		}
		ref.Shutdown(ctx)
	}
	if want("share") {
		benchShare(b, e, shared)
	}
	if want("idle") {
		benchIdle(b, e)
	}

	what := fmt.Sprintf("medians of %d rounds", b.rounds)
	if smoke {
		what = "smoke: one small round, figures not for comparison"
	}
	out := fmt.Sprintf("\nBENCH Berth against references (%s; %d vCPU each; ratio = Berth/reference)\n", what, b.vcpus) + b.table()
	t.Log(out)
	fmt.Print(out)
	if dir := os.Getenv("BERTH_BENCH_OUT"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		js, _ := json.MarshalIndent(map[string]any{"time": time.Now().UTC().Format(time.RFC3339), "rounds": b.rounds, "rows": b.rows}, "", "  ")
		path := filepath.Join(dir, "bench-"+time.Now().UTC().Format("20060102T150405Z")+".json")
		if err := os.WriteFile(path, js, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("written to %s", path)
	}
}

// cpuGroups are where libvirt puts its VMs' QEMU processes (cgroup v1's cpu
// controller, then v2) on hosts without systemd, and with it.
var cpuGroups = []string{"/sys/fs/cgroup/cpu/machine", "/sys/fs/cgroup/machine", "/sys/fs/cgroup/machine.slice"}

// likeLibvirt moves a reference VM's QEMU into libvirt's machine cgroup,
// beside Berth's VM. There all libvirt VMs on the host share one CPU weight
// while a process outside competes on its own: on a shared machine the
// reference would otherwise get several times the CPU Berth's VM gets, and
// the ratio would measure that. It returns "" once moved, or why not, which
// the rows of that reference then say.
func likeLibvirt(pid int) string {
	for _, g := range cpuGroups {
		if _, err := os.Stat(g); err != nil {
			continue
		}
		leaf := filepath.Join(g, "berth-bench")
		if err := os.MkdirAll(leaf, 0o755); err != nil {
			return "not in libvirt's cgroup: " + err.Error()
		}
		if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			return "not in libvirt's cgroup: " + err.Error()
		}
		return ""
	}
	return "not in libvirt's cgroup: none of " + strings.Join(cpuGroups, ", ") + " exists"
}

// withNote appends a reference's cgroup note to its name.
func withNote(name, note string) string {
	if note == "" {
		return name
	}
	return name + " (" + note + ")"
}

// guestCPUs is how many vCPUs the guest of e has.
func guestCPUs(t *testing.T, e *berthEnv) int {
	n, err := strconv.Atoi(strings.TrimSpace(e.berth("shell", "nproc")))
	if err != nil || n < 1 {
		t.Fatalf("the guest's vCPUs: %q", e.berth("shell", "nproc"))
	}
	return n
}

// benchStart compares `berth start` until `docker version` answers with the
// floor: the same image booted by bare QEMU (as many vCPUs as Berth's VM
// got, the same memory) until its engine is ready, by the guest's uptime,
// each only while the other's VM is down. Cold is the first start (the
// data disk is formatted), warm the second on the same disk.
func benchStart(ctx context.Context, b *bench) {
	t := b.t
	var cold, warm, coldFloor, warmFloor []float64
	note := ""
	floor := func(disk string) float64 {
		v, err := vm.Boot(ctx, vm.Options{
			GuestDir: guestDir(t), DataDisk: disk, DataSize: 16 << 30,
			StateDir: t.TempDir(), CPUs: b.vcpus, MemoryMB: 2048,
		}, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(v.Kill)
		note = likeLibvirt(v.PID())
		h, err := v.WaitReady(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		at := bootSteps(h)["engine-ready"]
		if at == 0 {
			t.Fatalf("no engine-ready step in %+v", h.Boot)
		}
		return at
	}
	for range b.rounds {
		e := newBerthEnv(t)
		cold = append(cold, startToReady(e))
		if b.vcpus == 0 {
			b.vcpus = guestCPUs(t, e)
		}
		e.berth("stop")
		disk := filepath.Join(t.TempDir(), "data.img")
		coldFloor = append(coldFloor, floor(disk))
		if !b.size.warm {
			continue
		}
		warm = append(warm, startToReady(e))
		e.berth("stop")
		warmFloor = append(warmFloor, floor(disk))
	}
	b.add(fmt.Sprintf("cold berth start → docker version, %d vCPU", b.vcpus), "s", medianOf(cold), medianOf(coldFloor), withNote("bare QEMU, fresh disk, to engine-ready", note), "≤ 1.15x")
	if !b.size.warm {
		return
	}
	b.add(fmt.Sprintf("warm berth start → docker version, %d vCPU", b.vcpus), "s", medianOf(warm), medianOf(warmFloor), withNote("bare QEMU, same disk, to engine-ready", note), "≤ 1.15x")
}

// startToReady is the seconds from berth start (the bench's machine: 2
// CPUs, 2 GiB, 16 GiB disk) until docker version answers.
func startToReady(e *berthEnv) float64 {
	s := time.Now()
	e.berth("start", "--cpus", "2", "--memory", "2", "--disk", "16")
	for {
		if _, err := e.dockerErr("version"); err == nil {
			return time.Since(s).Seconds()
		}
		if time.Since(s) > 5*time.Minute {
			e.t.Fatal("docker version does not answer 5 minutes after berth start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// transferKinds are the published-port transfers both benchmarks make
// against blast: from its :9000, or to its :9001.
var transferKinds = []struct {
	name     string
	download bool
	streams  int
}{
	{"download host ← container, 1 stream", true, 1},
	{"download host ← container, 8 streams", true, 8},
	{"upload host → container, 1 stream", false, 1},
	{"upload host → container, 8 streams", false, 8},
}

// netSide is one end of the network comparison: how to reach the blast
// container's ports, and the host processes a transfer costs CPU in.
type netSide struct {
	name  string
	addr  func(port int) string
	procs map[string]int // role → pid
	pprof string         // the daemon's profiler socket when BERTH_PPROF=1
	note  string         // what the rows should say of this side (likeLibvirt)
}

// benchNet measures published-port throughput and connect round trips
// through Berth's forwarder and through QEMU's hostfwd to the same
// container image, alternating. Each transfer also records the host CPU
// its side's processes used; with a profiler socket, the first Berth
// transfer of each kind is profiled into BERTH_BENCH_OUT.
func benchNet(b *bench, berth, ref netSide) {
	t := b.t
	size := b.size.transfer
	for _, c := range transferKinds {
		port := 9001
		if c.download {
			port = 9000
		}
		speed := map[string][]float64{}
		cpu := map[string][]float64{}
		failed := map[string]string{}
		for round := range b.rounds {
			for _, side := range []netSide{berth, ref} {
				var profiled <-chan struct{}
				if round == 0 && side.pprof != "" && os.Getenv("BERTH_BENCH_OUT") != "" {
					slug := strings.NewReplacer(" ", "-", ",", "", "←", "from", "→", "to").Replace(c.name)
					profiled = profileDaemon(t, side.pprof, filepath.Join(os.Getenv("BERTH_BENCH_OUT"), slug+".pprof"), 5)
				}
				before := cpuOf(t, side.procs)
				d, err := transfer(side.addr(port), c.download, size, c.streams)
				if profiled != nil {
					<-profiled
				}
				if err != nil {
					// A failed transfer is a finding: the table still comes,
					// and says so.
					if side.name == berth.name {
						t.Errorf("%s via %s: %v", c.name, side.addr(port), err)
					} else {
						t.Logf("%s via the reference: %v", c.name, err)
					}
					failed[side.name] = err.Error()
					continue
				}
				speed[side.name] = append(speed[side.name], float64(size)/1e6/d.Seconds())
				for role, s := range cpuOf(t, side.procs) {
					cpu[side.name+" "+role] = append(cpu[side.name+" "+role], s-before[role])
				}
			}
		}
		refName := withNote("QEMU user network (hostfwd)", ref.note)
		if len(speed[ref.name]) == 0 {
			refName += " failed every round: " + failed[ref.name]
		}
		r := b.add(fmt.Sprintf("%s (%d MB)", c.name, size/1_000_000), "MB/s", medianOf(speed[berth.name]), medianOf(speed[ref.name]), refName, "≥ 2x")
		r.CPU = map[string]float64{}
		for k, v := range cpu {
			r.CPU[k] = medianOf(v)
		}
		t.Logf("    host CPU seconds per transfer: %s", cpuText(r.CPU))
	}
	var lb, lr []float64
	type target struct {
		addr string
		out  *[]float64
	}
	order := []target{{berth.addr(9002), &lb}, {ref.addr(9002), &lr}}
	for range b.size.connects {
		slices.Reverse(order) // neither always goes first
		for _, sd := range order {
			d, err := answer(sd.addr)
			if err != nil {
				t.Fatal(err)
			}
			*sd.out = append(*sd.out, float64(d.Microseconds())/1000)
		}
	}
	refName := withNote("QEMU user network (hostfwd)", ref.note)
	b.add(fmt.Sprintf("connect → first byte, median of %d", b.size.connects), "ms", medianOf(lb), medianOf(lr), refName, "")
	b.add(fmt.Sprintf("connect → first byte, p99 of %d", b.size.connects), "ms", percentile(lb, 0.99), percentile(lr, 0.99), refName, "")
}

// cpuText lists CPU seconds by process, in a stable order.
func cpuText(cpu map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(cpu)) {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, cpu[k]))
	}
	return strings.Join(parts, ", ")
}

// cpuOf reads the CPU seconds (user and system, all threads) each process
// has used.
func cpuOf(t *testing.T, procs map[string]int) map[string]float64 {
	s := map[string]float64{}
	for role, pid := range procs {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		// Fields after the command's closing parenthesis; utime and stime
		// are the 14th and 15th of the whole line, in USER_HZ (100 on Linux).
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
		u, _ := strconv.ParseFloat(f[11], 64)
		sy, _ := strconv.ParseFloat(f[12], 64)
		s[role] = (u + sy) / 100
	}
	return s
}

// profileDaemon fetches a CPU profile of the given seconds from the
// daemon's profiler socket into path; the channel closes when it is done.
func profileDaemon(t *testing.T, sock, path string, seconds int) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
		resp, err := c.Get(fmt.Sprintf("http://daemon/debug/pprof/profile?seconds=%d", seconds))
		if err != nil {
			t.Logf("profile: %v", err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(path)
		if err != nil {
			t.Logf("profile: %v", err)
			return
		}
		defer f.Close()
		if _, err := io.Copy(f, resp.Body); err != nil {
			t.Logf("profile: %v", err)
			return
		}
		t.Logf("    daemon profile: %s", path)
	}()
	return done
}

// benchAutoForward times `docker run -d -p` returning until the published
// port answers on the host.
func benchAutoForward(b *bench, e *berthEnv) {
	var delays []float64
	for i := range b.size.autoForwards {
		port := freePorts(b.t, 1)[0]
		name := fmt.Sprintf("af%d", i)
		e.docker("run", "-d", "--name", name, "-p", fmt.Sprintf("%d:9002", port), testImage, "blast")
		d, err := waitAnswer(fmt.Sprintf("127.0.0.1:%d", port), time.Minute)
		if err != nil {
			b.t.Fatal(err)
		}
		delays = append(delays, float64(d.Microseconds())/1000)
		e.docker("rm", "-f", name)
	}
	b.add(fmt.Sprintf("docker run -d -p returns → port answers, median of %d", b.size.autoForwards), "ms", medianOf(delays), 0, "", "< 100 ms")
}

// benchAPI runs docker commands through Berth's socket and directly against
// the reference VM's engine port (forwarded by QEMU), alternating.
func benchAPI(b *bench, e *berthEnv, ref *vm.VM, note string) {
	t := b.t
	refHost := fmt.Sprintf("tcp://127.0.0.1:%d", ref.HostPorts[protocol.EnginePort])
	direct := func(args ...string) error {
		cmd := exec.Command("docker", args...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+refHost, "DOCKER_CONTEXT=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	via := func(args ...string) error {
		_, err := e.dockerErr(args...)
		return err
	}
	for _, run := range []func(...string) error{via, direct} {
		if err := run("exec", "blast", "dd", "if=/dev/zero", "of=/big", "bs=1M", "count=100"); err != nil {
			t.Fatal(err)
		}
	}
	dst := t.TempDir()
	for _, c := range []struct {
		name   string
		rounds int
		args   []string
	}{
		{"docker ps", b.size.apiCalls, []string{"ps"}},
		{"docker inspect", b.size.apiCalls, []string{"inspect", "blast"}},
		{"docker cp of 100 MB out of a container", b.rounds, []string{"cp", "blast:/big", filepath.Join(dst, "big")}},
	} {
		var fig, rf []float64
		for range c.rounds {
			for _, side := range []struct {
				run func(...string) error
				out *[]float64
			}{{via, &fig}, {direct, &rf}} {
				os.Remove(filepath.Join(dst, "big"))
				s := time.Now()
				if err := side.run(c.args...); err != nil {
					t.Fatal(err)
				}
				*side.out = append(*side.out, float64(time.Since(s).Milliseconds()))
			}
		}
		b.add(c.name, "ms", medianOf(fig), medianOf(rf), withNote("engine's TCP port direct (QEMU hostfwd)", note), "")
	}
}

// benchShare runs the shared-folder benchmark (bench_share_test.go) on the
// running machine: the share against the guest's own ext4, taking turns to
// go first, host and guest caches dropped before reads.
func benchShare(b *bench, e *berthEnv, dir string) {
	times := shareBench(b.t, e, dir, b.rounds, b.size.share)
	names := b.size.share.ops()
	for _, op := range []string{"write", "read", "create", "walk-stat"} {
		if len(times[op+" share"]) == 0 || len(times[op+" local"]) == 0 {
			b.t.Fatalf("no timing for %s: %v", op, times)
		}
		b.add("shared folder (virtiofs) "+names[op], "ms", medianOf(times[op+" share"]), medianOf(times[op+" local"]), "the guest's own ext4, in turns", "")
	}
}

// benchIdle samples the daemon's memory every second and its CPU over the
// window, with three containers running, and reports the peak and median
// resident memory.
func benchIdle(b *bench, e *berthEnv) {
	t := b.t
	for i := range 3 {
		e.docker("run", "-d", "--name", fmt.Sprintf("idle%d", i), testImage, "sleep", "3600")
	}
	pid := daemonPid(t, e)
	ticks := func() float64 { return cpuOf(t, map[string]int{"daemon": pid})["daemon"] }
	t0, s := ticks(), time.Now()
	var rss []float64
	for time.Since(s) < b.size.idle {
		rss = append(rss, rssMiB(t, pid))
		time.Sleep(time.Second)
	}
	cpu := (ticks() - t0) / time.Since(s).Seconds() * 100
	window := fmt.Sprintf("idle %.0f s, 3 containers", b.size.idle.Seconds())
	b.add(fmt.Sprintf("daemon RSS, peak of %d samples, %s", len(rss), window), "MiB", slices.Max(rss), 0, "", "≤ 50 MiB")
	b.add(fmt.Sprintf("daemon RSS, median of %d samples, %s", len(rss), window), "MiB", medianOf(rss), 0, "", "")
	b.add("daemon CPU, "+window, "%", cpu, 0, "", "≈ 0 %")
}

// rssMiB is a process's resident memory (VmRSS) in MiB.
func rssMiB(t *testing.T, pid int) float64 {
	return procMiB(t, fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
}

// procMiB reads the first "FIELD: N kB" line of a /proc file, in MiB.
func procMiB(t *testing.T, path, field string) float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	t.Fatalf("no %s in %s", field, path)
	return 0
}

// transfer moves size bytes over streams parallel connections to the blast
// server at addr (download from :9000, upload to :9001) and returns the
// wall time.
func transfer(addr string, download bool, size int64, streams int) (time.Duration, error) {
	per := size / int64(streams)
	errs := make(chan error, streams)
	var wg sync.WaitGroup
	s := time.Now()
	for range streams {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if download {
				fmt.Fprintf(c, "%d\n", per)
				n, err := io.CopyBuffer(io.Discard, c, make([]byte, 256<<10))
				if err == nil && n != per {
					err = fmt.Errorf("downloaded %d bytes, want %d", n, per)
				}
				errs <- err
				return
			}
			if _, err := io.CopyBuffer(c, io.LimitReader(zeroReader{}, per), make([]byte, 256<<10)); err != nil {
				errs <- err
				return
			}
			c.(*net.TCPConn).CloseWrite()
			line, err := bufio.NewReader(c).ReadString('\n')
			if err == nil && strings.TrimSpace(line) != strconv.FormatInt(per, 10) {
				err = fmt.Errorf("container received %q bytes, want %d", strings.TrimSpace(line), per)
			}
			errs <- err
		})
	}
	wg.Wait()
	d := time.Since(s)
	close(errs)
	for err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return d, nil
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// answer connects to addr and reads the one byte blast's :9002 sends.
func answer(addr string) (time.Duration, error) {
	s := time.Now()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		return 0, fmt.Errorf("%s: %w", addr, err)
	}
	return time.Since(s), nil
}

// waitAnswer retries answer until it succeeds and returns the time taken.
func waitAnswer(addr string, limit time.Duration) (time.Duration, error) {
	s := time.Now()
	for {
		if _, err := answer(addr); err == nil {
			return time.Since(s), nil
		} else if time.Since(s) > limit {
			return 0, fmt.Errorf("%s does not answer after %v: %w", addr, limit, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// daemonPid is the pid of the home's daemon, from its lock file.
func daemonPid(t *testing.T, e *berthEnv) int {
	raw, err := os.ReadFile(filepath.Join(e.home, "run", "daemon.lock"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatalf("daemon.lock: %v", err)
	}
	return pid
}

func freePorts(t *testing.T, n int) []int {
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func medianOf(v []float64) float64 { return percentile(v, 0.5) }

func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}
