//go:build e2e

package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthvm/berth/app/control"
)

// The reliability suite (`make reliability`): what a machine left running
// for weeks meets — a crashed daemon, a power cut, a full host disk, a full
// data disk — and what must survive it. Each test prints RELIABILITY lines,
// the figures of the README's table.

// Small machines keep the suite inside its time budget under emulation,
// and its cases run two at a time (t.Parallel, after the rest of the e2e
// suite; make's -parallel 2): each has its own home and VM, and one
// emulated vCPU leaves the second core of a 2-core machine idle.
var reliabilityMachine = []string{"--cpus", "2", "--memory", "2", "--disk", "8"}

// lineWriter is a container that appends numbered lines to a volume, each
// followed by sync, and then records the number in a file of a shared host
// folder: a place outside the VM that outlives it, so the last number there
// is the last line synced before the VM's end, however it ended.
type lineWriter struct {
	e      *berthEnv
	name   string
	vol    string
	record string // the host file
}

// writeLines starts a lineWriter named name on the volume vol.
func writeLines(e *berthEnv, name, vol string) *lineWriter {
	e.t.Helper()
	dir := e.t.TempDir() // under the host's temp folder, which Berth shares
	w := &lineWriter{e: e, name: name, vol: vol, record: filepath.Join(dir, "synced")}
	e.docker("run", "-d", "--name", name, "-v", vol+":/data", "-v", dir+":/host", testImage, "sh", "-c",
		`i=0; while true; do i=$((i+1)); echo $i >> /data/lines; sync; echo $i >> /host/synced; done`)
	return w
}

// synced is the last line the writer recorded as synced.
func (w *lineWriter) syncedCount() int {
	b, _ := os.ReadFile(w.record)
	n, _ := strconv.Atoi(lastLine(string(b)))
	return n
}

// waitSynced waits until the writer has synced at least n lines.
func (w *lineWriter) waitSynced(n int) int {
	w.e.t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if got := w.syncedCount(); got >= n {
			return got
		}
		if time.Now().After(deadline) {
			w.e.t.Fatalf("the writer synced fewer than %d lines in 5 minutes", n)
		}
		time.Sleep(time.Second)
	}
}

// checkLines reads the volume's lines and checks that they run 1, 2, 3, …
// without a gap or a duplicate through at least synced; it returns how many
// there are. Only a line after the last synced one may be cut short.
func checkLines(e *berthEnv, vol string, synced int) int {
	e.t.Helper()
	out := e.docker("run", "--rm", "-v", vol+":/data", testImage, "cat", "/data/lines")
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if n, err := strconv.Atoi(l); err != nil || n != i+1 {
			if i == len(lines)-1 && i >= synced {
				e.t.Logf("the last, unsynced line %d is cut short: %q", i+1, l)
				return i
			}
			e.t.Fatalf("line %d of the volume is %q (of %d lines, %d synced)", i+1, l, len(lines), synced)
		}
	}
	if len(lines) < synced {
		e.t.Fatalf("the volume has %d lines; %d were synced: fsync'd lines are lost", len(lines), synced)
	}
	return len(lines)
}

// hostFsck checks the stopped machine's data disk from the host.
func hostFsck(t *testing.T, disk string) string {
	t.Helper()
	out, err := exec.Command("e2fsck", "-fn", disk).CombinedOutput()
	if err != nil {
		t.Fatalf("e2fsck -fn %s: %v\n%s", disk, err, out)
	}
	return lastLine(strings.TrimSpace(string(out)))
}

// bootCheck asserts what guestd's check of the data disk at the boot after
// a crash found: the disk was checked, not formatted (that would lose
// everything), and a repair is reported exactly, from the e2fsck output
// guestd logs on the console; loss itself is what checkLines and hostFsck
// catch. It returns the report for the RELIABILITY line.
func bootCheck(e *berthEnv) string {
	e.t.Helper()
	st := e.status()
	if st.Guest == nil || st.Guest.DataDisk == nil {
		e.t.Fatalf("no data disk report after the crash: %+v", st.Guest)
	}
	d := st.Guest.DataDisk
	if d.Formatted || d.Check == "" {
		e.t.Fatalf("the data disk after the crash: formatted %v, check %q: it must be checked, never formatted", d.Formatted, d.Check)
	}
	if !d.Repaired {
		return "no repair needed: " + d.Check
	}
	serial, _ := os.ReadFile(filepath.Join(e.home, "data", "serial.log"))
	for _, l := range strings.Split(string(serial), "\n") {
		if strings.Contains(l, "e2fsck corrected") {
			return "repaired: " + l
		}
	}
	e.t.Fatalf("guestd says e2fsck repaired the data disk, and the console has no e2fsck output saying what:\n%s", serial)
	return ""
}

// startSeconds runs berth start (or restart) and returns the start's own
// figure ("Berth is running (31.2s).") and its output.
func startSeconds(e *berthEnv, args ...string) (float64, string) {
	e.t.Helper()
	out := e.berth(args...)
	m := regexp.MustCompile(`Berth is running \(([0-9.]+)s\)`).FindStringSubmatch(out)
	if m == nil {
		e.t.Fatalf("berth %s did not say it runs:\n%s", strings.Join(args, " "), out)
	}
	s, _ := strconv.ParseFloat(m[1], 64)
	return s, out
}

// qemuPid is the pid of this home's VM, 0 when none runs.
func qemuPid(e *berthEnv) int {
	out, _ := exec.Command("pgrep", "-f", "qemu-system.*"+e.home+"/").Output()
	pid, _ := strconv.Atoi(strings.Fields(string(out) + " 0")[0])
	return pid
}

// containerStates maps container names to docker's status words.
func containerStates(e *berthEnv) map[string]string {
	e.t.Helper()
	states := map[string]string{}
	for _, l := range strings.Split(e.docker("ps", "-a", "--format", "{{.Names}}\t{{.Status}}"), "\n") {
		if name, status, ok := strings.Cut(l, "\t"); ok {
			states[name] = status
		}
	}
	return states
}

// checkRestartPolicies checks that the unless-stopped container runs and
// the --restart no one does not.
func checkRestartPolicies(e *berthEnv, after string) map[string]string {
	e.t.Helper()
	st := containerStates(e)
	if !strings.HasPrefix(st["keeper"], "Up") || strings.HasPrefix(st["oneshot"], "Up") {
		e.t.Fatalf("after %s: --restart unless-stopped is %q, --restart no is %q (want Up, not Up)", after, st["keeper"], st["oneshot"])
	}
	return st
}

func dataDisk(e *berthEnv) string { return e.paths().DataDisk() }

// Cases 1 and 8: the daemon is killed (kill -9) while a container writes
// with sync. The VM it leaves behind is stopped by the next start, which
// says so; every synced line is on the volume, in order; the data disk
// checks clean. Restart policies hold across `berth restart` and across the
// kill: --restart unless-stopped comes back, --restart no does not.
func TestReliabilityDaemonKill(t *testing.T) {
	t.Parallel()
	e := newBerthEnv(t)
	image := buildBusybox(t)
	e.berth(append([]string{"start"}, reliabilityMachine...)...)
	e.docker("load", "-i", image)
	e.docker("run", "-d", "--name", "keeper", "--restart", "unless-stopped", testImage, "sleep", "100000")
	e.docker("run", "-d", "--name", "oneshot", "--restart", "no", testImage, "sleep", "100000")

	normal, _ := startSeconds(e, "restart")
	checkRestartPolicies(e, "berth restart")
	t.Logf("RELIABILITY case 8 (restart policies, berth restart): unless-stopped Up, no not running; start %.1fs", normal)

	e.docker("start", "oneshot")
	w := writeLines(e, "writer", "lines")
	before := w.waitSynced(100)
	killDaemon(t, e)
	if qemuPid(e) == 0 {
		t.Fatal("the VM went with the daemon; this case is about the VM left behind")
	}
	recovery, out := startSeconds(e, "start")
	if !strings.Contains(out, "recovered a machine left behind") {
		t.Fatalf("the start after a daemon kill does not say it recovered the VM:\n%s", out)
	}
	// The VM wrote on until the recovery stopped it: the last number the
	// writer recorded outside it is the count that must be on the volume.
	synced := w.syncedCount()
	report := bootCheck(e)
	got := checkLines(e, "lines", synced)
	states := checkRestartPolicies(e, "a daemon kill")
	if !strings.HasPrefix(states["oneshot"], "Exited (255)") {
		t.Fatalf("after a daemon kill the --restart no container is %q, want Exited (255): dockerd marks what the crash ended so", states["oneshot"])
	}
	e.berth("stop")
	fsck := hostFsck(t, dataDisk(e))
	t.Logf("RELIABILITY case 1 (daemon kill -9 during synced writes): %d lines synced at the kill, %d by the VM's end, %d on the volume, consecutive; guest check at boot: %s; host e2fsck -fn: %s; recovery start %.1fs vs normal start %.1fs",
		before, synced, got, report, fsck, recovery, normal)
	t.Logf("RELIABILITY case 8 (restart policies, daemon kill): keeper %q, oneshot %q, writer %q", states["keeper"], states["oneshot"], states["writer"])
}

// Case 2: a power cut — QEMU killed (kill -9) while a container writes with
// sync. The daemon says the VM stopped unexpectedly; the next start boots
// it again with every synced line on the volume, in order, and the data
// disk checks clean.
func TestReliabilityPowerLoss(t *testing.T) {
	t.Parallel()
	e := newBerthEnv(t)
	image := buildBusybox(t)
	normal, _ := startSeconds(e, append([]string{"start"}, reliabilityMachine...)...)
	e.docker("load", "-i", image)
	w := writeLines(e, "writer", "lines")
	w.waitSynced(100)
	pid := qemuPid(e)
	if pid == 0 {
		t.Fatal("no QEMU process for this machine")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var st control.Status
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Second) {
		if st = e.status(); st.State == control.Error {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not notice the VM's end: %s", st.State)
		}
	}
	if !strings.Contains(st.Reason, "unexpectedly") {
		t.Fatalf("reason after a power cut: %q", st.Reason)
	}
	synced := w.syncedCount() // the VM is gone: nothing is added now
	recovery, _ := startSeconds(e, "start")
	report := bootCheck(e)
	got := checkLines(e, "lines", synced)
	e.berth("stop")
	fsck := hostFsck(t, dataDisk(e))
	t.Logf("RELIABILITY case 2 (QEMU kill -9 during synced writes): daemon said %q; %d lines synced before the cut, %d on the volume, consecutive; guest check at boot: %s; host e2fsck -fn: %s; start after the cut %.1fs vs first start %.1fs",
		firstClause(st.Reason), synced, got, report, fsck, recovery, normal)
}

func firstClause(s string) string {
	before, _, _ := strings.Cut(s, ";")
	return before
}

// Case 3: the host filesystem that holds the data disk fills while a
// container writes. The VM pauses; Berth says "host disk full" with the
// path and free space in `berth status` and its log; once space is freed
// the VM resumes by itself, the same boot, and no synced line is lost.
func TestReliabilityHostDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small filesystem for the data disk")
	}
	t.Parallel()
	// The data disk, sparse, on a 1 GiB tmpfs; the rest of the home (the
	// daemon's log) stays where it is. Mounted before the machine exists,
	// unmounted after it is gone.
	small := filepath.Join(t.TempDir(), "small")
	os.MkdirAll(small, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1g", "tmpfs", small).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", small).Run() })
	e := newBerthEnv(t)
	image := buildBusybox(t)
	disk := filepath.Join(small, "data.img")
	if err := os.WriteFile(disk, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, 8<<30); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(e.home, "data"), 0o700)
	if err := os.Symlink(disk, dataDisk(e)); err != nil {
		t.Fatal(err)
	}
	e.berth(append([]string{"start"}, reliabilityMachine...)...)
	e.docker("load", "-i", image)
	w := writeLines(e, "writer", "lines")
	synced := w.waitSynced(50)
	boot := e.berth("shell", "cat", "/proc/sys/kernel/random/boot_id")

	filler := filepath.Join(small, "filler")
	fill(t, filler)
	filled := time.Now()
	var st control.Status
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(time.Second) {
		if st = e.status(); strings.Contains(st.Reason, "host disk full") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the host disk is full and Berth does not say so in 3 minutes: %+v", st)
		}
	}
	paused := time.Since(filled)
	if st.State != control.Running || !strings.Contains(st.Reason, disk) || !strings.Contains(st.Reason, " free") {
		t.Fatalf("status with the host disk full: %s, %q", st.State, st.Reason)
	}
	if out := e.berth("status"); !strings.Contains(out, "host disk full: "+disk) {
		t.Fatalf("berth status does not say the host disk is full:\n%s", out)
	}
	if log, _ := os.ReadFile(filepath.Join(e.home, "data", "daemon.log")); !strings.Contains(string(log), "host disk full") {
		t.Fatal("the daemon log does not say the host disk is full")
	}

	os.Remove(filler)
	freed := time.Now()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(500 * time.Millisecond) {
		if st = e.status(); st.Reason == "" && st.Guest != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("space is free again and the VM has not resumed: %s %q", st.State, st.Reason)
		}
	}
	resumed := time.Since(freed)
	if now := e.berth("shell", "cat", "/proc/sys/kernel/random/boot_id"); st.State != control.Running || now != boot {
		t.Fatalf("after space was freed: %s, guest boot %s (was %s): the VM did not continue", st.State, now, boot)
	}
	w.waitSynced(synced + 50)
	e.docker("kill", "writer")
	after := w.syncedCount()
	got := checkLines(e, "lines", after)
	e.berth("stop")
	fsck := hostFsck(t, disk)
	t.Logf("RELIABILITY case 3 (host disk full): paused and said so %.1fs after the fill; resumed %.1fs after space was freed, same boot; %d lines synced, %d on the volume, consecutive; host e2fsck -fn: %s",
		paused.Seconds(), resumed.Seconds(), after, got, fsck)
}

// fill writes path until its filesystem has no room left.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, size := range []int{1 << 20, 4 << 10} {
		buf := make([]byte, size)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("fill %s: %v", path, err)
				}
				break
			}
		}
	}
}

// Case 4: the data disk itself fills. The engine reports ENOSPC; `berth
// status` says the data disk is full and how to grow it; after `berth start
// --disk N` everything works again.
func TestReliabilityGuestDiskFull(t *testing.T) {
	t.Parallel()
	e := newBerthEnv(t)
	image := buildBusybox(t)
	e.berth(append([]string{"start"}, reliabilityMachine...)...)
	e.docker("load", "-i", image)
	// fallocate takes the disk's room without writing it (the host's sparse
	// file does not grow); dd takes the rest.
	out, err := e.dockerErr("run", "--rm", "-v", "fill:/data", testImage, "sh", "-c",
		`fallocate -l $(( $(df -k /data | tail -1 | awk '{print $4}') - 1024 ))k /data/big && dd if=/dev/zero of=/data/rest bs=64k`)
	enospc := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(strings.ToLower(l), "no space left on device") {
			enospc = l
		}
	}
	if err == nil || enospc == "" {
		t.Fatalf("filling the data disk: %v\n%s", err, out)
	}
	status := e.berth("status")
	if !strings.Contains(status, "data disk full") || !strings.Contains(status, "berth start --disk") {
		t.Fatalf("berth status does not say the data disk is full and how to grow it:\n%s", status)
	}
	problem := ""
	for _, l := range strings.Split(status, "\n") {
		if strings.Contains(l, "data disk full") {
			problem = l
		}
	}

	e.berth("stop")
	grown, _ := startSeconds(e, "start", "--disk", "9")
	if status := e.berth("status"); strings.Contains(status, "data disk full") {
		t.Fatalf("still full after growing:\n%s", status)
	}
	e.docker("run", "--rm", "-v", "fill:/data", testImage, "dd", "if=/dev/zero", "of=/data/after", "bs=1M", "count=64", "conv=fsync")
	if got := e.docker("run", "--rm", testImage, "echo", "works"); got != "works" {
		t.Fatalf("a container after growing the disk: %q", got)
	}
	e.berth("stop")
	fsck := hostFsck(t, dataDisk(e))
	t.Logf("RELIABILITY case 4 (data disk full): the engine said %q; berth status said %q; after --disk 9 (start %.1fs) a 64 MiB synced write and a new container work; host e2fsck -fn: %s",
		enospc, strings.TrimSpace(problem), grown, fsck)
}
