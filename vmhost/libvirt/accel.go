package libvirt

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/berthvm/berth/internal/atomicfile"
)

// kvmLifeBound is how long a VM under KVM may stay silent on its console
// before KVM is judged not to work. A working KVM guest's first console line
// comes well within a second; under emulation on a loaded 2-core host it
// takes about 3 s. A guest that shows nothing for this long under KVM is
// stuck (nested hosts whose /dev/kvm opens but cannot run a guest).
const kvmLifeBound = 20 * time.Second

// accel is how the next boot runs, and why not KVM.
type accel struct {
	KVM  bool
	Note string // why emulation, for the user; empty when KVM is used
}

// host identifies a host boot: a verdict about KVM holds until the host
// reboots or runs another kernel.
type hostBoot struct {
	BootID string `json:"boot_id"`
	Kernel string `json:"kernel"`
}

func thisBoot() hostBoot {
	read := func(p string) string {
		b, _ := os.ReadFile(p)
		return strings.TrimSpace(string(b))
	}
	return hostBoot{BootID: read("/proc/sys/kernel/random/boot_id"), Kernel: read("/proc/sys/kernel/osrelease")}
}

// verdict records that KVM did not work on a host boot.
type verdict struct {
	hostBoot
	Reason string    `json:"reason"`
	When   time.Time `json:"when"`
}

// verdicts is the file that remembers a broken KVM for the user.
type verdicts struct{ Path string }

func (v verdicts) broken(now hostBoot) (string, bool) {
	if v.Path == "" {
		return "", false
	}
	b, err := os.ReadFile(v.Path)
	if err != nil {
		return "", false
	}
	var got verdict
	if json.Unmarshal(b, &got) != nil || got.hostBoot != now || now.BootID == "" {
		return "", false
	}
	return got.Reason, true
}

func (v verdicts) record(now hostBoot, reason string) error {
	if v.Path == "" {
		return nil
	}
	b, err := json.MarshalIndent(verdict{hostBoot: now, Reason: reason, When: time.Now().UTC()}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(v.Path, b, 0o600)
}

// kvmCheck is what decides whether to try KVM: the user's override
// (BERTH_ACCEL=kvm|tcg), the device and whether this user may open it, and
// an earlier verdict on this host boot.
type kvmCheck struct {
	Force    string // "", "kvm" or "tcg"
	Device   string // /dev/kvm
	Verdicts verdicts
	Boot     hostBoot
	// Open tries the device for read and write; nil means os.OpenFile.
	Open func(path string) error
	// Session: QEMU runs as this user, so this user must open the device.
	// The system daemon runs QEMU as the daemon's user too (our seclabel).
}

func (c kvmCheck) decide() (accel, error) {
	switch c.Force {
	case "tcg":
		return accel{Note: "emulating the CPU (BERTH_ACCEL=tcg)"}, nil
	case "kvm":
		return accel{KVM: true}, nil
	case "":
	default:
		return accel{}, fmt.Errorf("BERTH_ACCEL=%q: want kvm, tcg, or nothing to let Berth decide", c.Force)
	}
	open := c.Open
	if open == nil {
		open = openRW
	}
	err := open(c.Device)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return accel{Note: "no " + c.Device + " (hardware virtualization is off or not offered here): emulating the CPU, which is slow"}, nil
	case errors.Is(err, fs.ErrPermission):
		return accel{Note: "you may not open " + c.Device + ": emulating the CPU, which is slow. For hardware virtualization join the kvm group (`sudo usermod -aG kvm $USER`, then log in again)"}, nil
	case err != nil:
		return accel{Note: fmt.Sprintf("%s does not open (%v): emulating the CPU, which is slow", c.Device, err)}, nil
	}
	if why, ok := c.Verdicts.broken(c.Boot); ok {
		return accel{Note: "KVM did not work on this host (" + why + "): emulating the CPU, which is slow; KVM is tried again after the host restarts"}, nil
	}
	return accel{KVM: true}, nil
}

func openRW(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err == nil {
		f.Close()
	}
	return err
}

// qemuErrors picks the lines of QEMU's log that say what went wrong, the
// last few, so a message can quote QEMU.
func qemuErrors(log []byte) string {
	// libvirt appends each start's output after a "starting up" line.
	if i := bytes.LastIndex(log, []byte("starting up")); i >= 0 {
		log = log[i:]
	}
	var picked []string
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		l := strings.ToLower(line)
		if strings.Contains(l, "shutting down") {
			continue
		}
		if strings.Contains(l, "error") || strings.Contains(l, "failure") || strings.Contains(l, "assertion") ||
			strings.Contains(l, "failed") || strings.Contains(l, "terminating on signal") {
			// Drop the timestamp and program prefix QEMU puts on each line.
			if i := strings.Index(line, "qemu-system-"); i > 0 {
				line = line[i:]
			}
			picked = append(picked, line)
		}
	}
	if len(picked) > 3 {
		picked = picked[len(picked)-3:]
	}
	s := strings.Join(picked, " / ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

// tail reads the end of a file, at most n bytes.
func tail(path string, n int64) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		f.Seek(fi.Size()-n, 0)
	}
	b := make([]byte, n)
	k, _ := f.Read(b)
	return b[:k]
}

// safeMTTCG is the first QEMU whose multi-threaded emulation translates
// guest code under the page lock ("accel/tcg: Always lock pages before
// translation", QEMU 8.1). Before it, a vCPU can translate kernel text
// while another vCPU patches it (static keys flip at module load), keep
// the stale block and later trap on a breakpoint the patcher already
// removed: the guest dies with an oops at a jump-label site and "Fatal
// exception in interrupt", at random, about once in tens of boots here
// (Debian 12's QEMU 7.2, the 6.12 guest kernel, 2 vCPUs).
const safeMTTCG = 8_001_000

// emulatedCPUs is how many vCPUs an emulated guest gets on QEMU version
// qemu (libvirt's major*1e6+minor*1e3+micro; 0 if unknown), and why fewer
// than asked. One vCPU cannot race itself; on the small hosts that lack
// KVM a second emulated vCPU adds little (a measured boot: 58 s with two,
// 62 s with one, within this host's noise).
func emulatedCPUs(asked int, qemu uint64) (int, string) {
	if asked <= 1 || qemu >= safeMTTCG || qemu == 0 {
		return asked, ""
	}
	return 1, fmt.Sprintf("emulating 1 CPU instead of %d: QEMU %d.%d emulates several CPUs with a race that crashes Linux guests at random (fixed in QEMU 8.1)",
		asked, qemu/1_000_000, qemu/1000%1000)
}
