//go:build e2e

package e2e

import (
	"encoding/json"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/berthvm/berth/app/control"
)

// stallSetup makes, in the guest, a loop device whose backing file sits on
// a filesystem of its own (ext4 on another loop device over a file in
// RAM), and prints the loop device. Freezing that filesystem (fsfreeze)
// leaves a write to the loop device in flight, uncompleted, for as long
// as it stays frozen: a real stall of a real block device, which thawing
// ends. Everything it needs is in the guest image (kmod, util-linux,
// e2fsprogs, coreutils).
const stallSetup = `set -e
modprobe loop
mkdir -p /run/stall/mnt
truncate -s 32M /run/stall/fs.img
mkfs.ext4 -q -F /run/stall/fs.img
mount -t ext4 "$(losetup -f --show /run/stall/fs.img)" /run/stall/mnt
truncate -s 8M /run/stall/mnt/back
losetup -f --show /run/stall/mnt/back`

// TestReliabilityDiskStall stalls a block device in a running guest and
// checks that berth status says so (which device, since when, what to do)
// within the detector's bound, that the docker socket still works (the
// device is one made in the VM, not the engine's disk), that the kernel's
// hung-task reports are counted, and that the report clears once the
// device completes its requests again. Then, in the same boot, it stalls
// the data disk itself (dataDiskStall).
func TestReliabilityDiskStall(t *testing.T) {
	t.Parallel()
	e := newBerthEnv(t)
	e.berth(append([]string{"start"}, reliabilityMachine...)...)
	if st := e.status(); st.DiskStall != nil {
		t.Fatalf("a stall reported before any: %+v", st.DiskStall)
	}

	out := strings.Split(strings.TrimSpace(e.berth("shell", "sh", "-c", stallSetup)), "\n")
	dev := strings.TrimSpace(out[len(out)-1])
	name := path.Base(dev)
	if !strings.HasPrefix(dev, "/dev/loop") {
		t.Fatalf("the stall setup printed %q, not a loop device", dev)
	}
	// A failed test leaves the device thawed, so the cleanup's stop is quick.
	t.Cleanup(func() { e.berthErr("shell", "fsfreeze", "-u", "/run/stall/mnt") })
	// The kernel reports tasks blocked for 10 s instead of 120 s, so that
	// hung-task counting is seen within the test.
	// (Only where a hung task does not panic the kernel.)
	hungTimeout := "/proc/sys/kernel/hung_task_timeout_secs"
	_, hungErr := e.berthErr("shell", "sh", "-c", "test \"$(cat /proc/sys/kernel/hung_task_panic)\" = 0 && echo 10 > "+hungTimeout)
	if hungErr == nil {
		t.Cleanup(func() { e.berthErr("shell", "sh", "-c", "echo 120 > "+hungTimeout) })
	}

	began := time.Now()
	// The writer runs on in a session of its own, holding none of the
	// shell's output, so that the shell returns.
	e.berth("shell", "sh", "-c", "fsfreeze -f /run/stall/mnt || exit 1; setsid dd if=/dev/zero of="+dev+" bs=4k count=1 oflag=direct </dev/null >/dev/null 2>&1 &")
	inflight := ""
	for time.Since(began) < 30*time.Second {
		inflight = e.berth("shell", "cat", "/sys/block/"+name+"/inflight")
		if strings.Join(strings.Fields(inflight), " ") != "0 0" {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	inFlightAt := time.Since(began)
	if strings.Join(strings.Fields(inflight), " ") == "0 0" {
		t.Fatalf("no request in flight on %s after the write to a frozen filesystem", name)
	}

	status, reported := awaitStallReport(e, name, began)
	for _, want := range []string{"state:   running", name + " (a loop or device-mapper device made in the VM) has had 1 request in flight and completed none since", "berth restart", "berth stop --force"} {
		if !strings.Contains(status, want) {
			t.Errorf("berth status lacks %q:\n%s", want, status)
		}
	}
	st := e.status()
	if st.DiskStall == nil || st.DiskStall.Device != name || !st.DiskStall.Stacked || st.DiskStall.InFlight < 1 || st.Guest == nil || st.Guest.DiskStall == nil {
		b, _ := json.Marshal(st.DiskStall)
		t.Fatalf("status --json: disk_stall %s", b)
	}
	since := st.DiskStall.Since
	// A device made in the VM leaves the docker socket to the engine.
	if out, err := e.dockerErr("ps"); err != nil {
		t.Fatalf("docker ps during a loop device's stall: %v\n%s", err, out)
	}

	// The kernel's hung-task reports (the blocked writer and the loop
	// device's worker) are counted into the report.
	hung := "not checked: " + hungTimeout + " not set (missing, or hung tasks panic)"
	if hungErr == nil {
		deadline := time.Now().Add(60 * time.Second)
		for st.DiskStall != nil && st.DiskStall.HungTasks == 0 && time.Now().Before(deadline) {
			time.Sleep(2 * time.Second)
			st = e.status()
		}
		if st.DiskStall == nil || st.DiskStall.HungTasks == 0 {
			t.Errorf("no hung task counted 60 s into a stall with hung_task_timeout_secs=10: %+v", st.DiskStall)
		} else {
			hung = st.DiskStall.HungTask
		}
	}

	// Thawed, the write completes and the report clears.
	e.berth("shell", "fsfreeze", "-u", "/run/stall/mnt")
	thawed := time.Now()
	for {
		st = e.status()
		if st.DiskStall == nil {
			break
		}
		if time.Since(thawed) > 30*time.Second {
			t.Fatalf("the stall is still reported %v after the thaw: %+v", time.Since(thawed).Round(time.Second), st.DiskStall)
		}
		time.Sleep(time.Second)
	}
	cleared := time.Since(thawed)
	if status := e.berth("status"); strings.Contains(status, "STOPPED ANSWERING") || st.State != control.Running {
		t.Fatalf("after the thaw:\n%s", status)
	}
	if out, err := e.dockerErr("ps"); err != nil {
		t.Fatalf("docker ps after the stall: %v\n%s", err, out)
	}
	t.Logf("RELIABILITY disk stall: %s (loop device on a frozen ext4) had a write in flight %.1fs after the write began; berth status reported it %.1fs after the write began (the guest dates the stall %s, its first sample with the write in flight); hung task counted: %s; the report cleared %.1fs after the thaw",
		name, inFlightAt.Seconds(), reported.Seconds(), since.Local().Format("15:04:05.000"), hung, cleared.Seconds())

	dataDiskStall(t, e)
}

// dataDiskStall stalls the VM's data disk itself, where the engine keeps
// everything: QEMU is told (through libvirt) to let 1 byte a second
// through to it, so every request after the first stays in flight, as in
// the stall seen under emulation. berth status must say so, the docker
// socket must refuse requests with the reason instead of hanging, and
// berth restart, the cure offered, must bring back a working engine on an
// intact disk.
func dataDiskStall(t *testing.T, e *berthEnv) {
	// A volume synced before the stall must outlive the power-off that
	// ends it; what was not synced yet may not (the disk took nothing
	// more).
	e.docker("volume", "create", "kept")
	e.berth("shell", "sync")
	began := time.Now()
	virsh(t, "blkdeviotune", e.paths().VMName(), "vdb", "--total-bytes-sec", "1", "--live")
	e.berth("shell", "sh", "-c", "setsid dd if=/dev/zero of=/mnt/data/stall-probe bs=4k count=16 oflag=direct </dev/null >/dev/null 2>&1 &")

	status, reported := awaitStallReport(e, "vdb", began)
	for _, want := range []string{"vdb (the data disk: images, containers, volumes)", "Docker commands are refused", "berth restart"} {
		if !strings.Contains(status, want) {
			t.Errorf("berth status lacks %q:\n%s", want, status)
		}
	}
	// The socket answers, with the reason, within the gate's bound.
	asked := time.Now()
	out, err := e.dockerErr("volume", "ls")
	refusedIn := time.Since(asked)
	if err == nil || !strings.Contains(out, "stopped answering") || !strings.Contains(out, "berth restart") {
		t.Fatalf("docker volume ls while the data disk stalls: err %v, want the refusal naming the stall and berth restart:\n%s", err, out)
	}

	restarted := time.Now()
	e.berth("restart")
	restartTook := time.Since(restarted)
	if st := e.status(); st.DiskStall != nil {
		t.Fatalf("a stall is reported after the restart: %+v", st.DiskStall)
	}
	check := bootCheck(e)
	if out := e.docker("volume", "ls", "-q"); !strings.Contains(out, "kept") {
		t.Errorf("the volume made and synced before the stall is gone after the restart:\n%s", out)
	}
	t.Logf("RELIABILITY data disk stall (QEMU let 1 B/s through to vdb): berth status reported it %.1fs after it began; docker volume ls was refused in %.2fs: %q; berth restart took %.1fs; data disk after it: %s",
		reported.Seconds(), refusedIn.Seconds(), out, restartTook.Seconds(), check)
}

// awaitStallReport waits for berth status to report dev's stall, which
// began at began, and returns the status and how long after it came: the
// detector's bound (30 s) after its first sample with the request in
// flight (every 5 s), plus the daemon's poll and a status round trip.
func awaitStallReport(e *berthEnv, dev string, began time.Time) (string, time.Duration) {
	e.t.Helper()
	for {
		status := e.berth("status")
		if strings.Contains(status, "STOPPED ANSWERING ("+dev+")") {
			return status, time.Since(began)
		}
		if time.Since(began) > 90*time.Second {
			e.t.Fatalf("berth status does not report the stall of %s %v after it began:\n%s", dev, time.Since(began).Round(time.Second), status)
		}
		time.Sleep(time.Second)
	}
}
