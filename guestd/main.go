//go:build linux

// Command guestd is init (PID 1) of the Berth guest. As /init in the initrd it
// mounts the read-only system image with a tmpfs overlay and switches into
// it; as /usr/sbin/guestd there it brings up the guest, runs the container
// engine and serves the guest API until asked to power off.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthvm/berth/guestd/kmod"
	"github.com/berthvm/berth/guestd/loglink"
	"github.com/berthvm/berth/guestd/mounts"
	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/guestd/rootfs"
)

// version is set by the build (-ldflags -X main.version=...).
var version = "dev"

func main() {
	// The kernel starts init with no PATH.
	os.Setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") //nolint:errcheck // cannot fail for a valid name
	console := &kernelConsole{}
	log := slog.New(slog.NewTextHandler(console, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if len(os.Args) == 2 && os.Args[1] == poweroffArg {
		// Run by the kernel as its poweroff_cmd: ask init to stop.
		if err := unix.Kill(1, unix.SIGPWR); err != nil {
			fmt.Fprintln(os.Stderr, "guestd poweroff:", err)
			os.Exit(1)
		}
		return
	}
	if filepath.Base(os.Args[0]) == "init" {
		err := initrd(log)
		// Only a failure returns here: report it where the host reads.
		fatal(log, console, fmt.Errorf("initrd: %w", err))
	}
	// In the system, the log may also go to the host over a Hyper-V
	// socket (berth.vsock_log): it keeps the boot so far until then.
	link := loglink.New(64 << 10)
	out := io.MultiWriter(link, console)
	g := newGuest(slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo})), out, link)
	g.run()
}

// kernelConsole is where guestd logs: the kernel console, which the host
// captures through the serial port. It is opened on first use, and again
// until that works: under vz the console is a virtio one (hvc0) whose
// driver loads with the initrd's modules; what comes before is lost.
type kernelConsole struct {
	mu sync.Mutex
	f  *os.File
}

func (c *kernelConsole) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		f, err := os.OpenFile("/dev/console", os.O_WRONLY|unix.O_NOCTTY, 0)
		if err != nil {
			return len(p), nil // no console yet
		}
		c.f = f
	}
	return c.f.Write(p)
}

// initrdModules give the console (vz's is virtio) and mount the system
// image; the builder ships exactly these and their dependencies in the
// initrd (mkguest's squashfs image adds squashfs, loaded once found). crc32c is ext4's checksum, which ext4 asks the crypto API for at
// mount time rather than depending on it.
var initrdModules = []string{"virtio_pci", "virtio_console", "virtio_blk", "crc32c_generic", "ext4", "overlay"}

// scsiControllers reach a system disk named by LUN (protocol.SCSILUN):
// Hyper-V's synthetic SCSI, or virtio-scsi where QEMU stands in for it in
// tests. The one the machine lacks fails to load, which is fine.
var scsiControllers = []string{"hv_storvsc", "virtio_scsi"}

func initrd(log *slog.Logger) error {
	if err := mounts.Apply(mounts.Early()[:3]); err != nil { // proc, sys, dev
		return err
	}
	cfg, err := protocol.ParseOptions(readCmdline())
	if err != nil {
		// The system image can still boot with defaults; stage two reports it.
		log.Error("bad kernel command line; using defaults", "err", err)
		cfg = protocol.DefaultOptions()
	}
	release := kernelRelease()
	idx, err := kmod.Open("/lib/modules/" + release)
	if err != nil {
		return err
	}
	if err := idx.Load(initrdModules...); err != nil {
		return err
	}
	if strings.HasPrefix(cfg.SystemDisk, protocol.SCSILUN) {
		for _, m := range scsiControllers {
			if err := idx.Load(m); err != nil {
				log.Info("no such SCSI controller here", "module", m, "err", err)
			}
		}
		if err := idx.Load("sd_mod"); err != nil {
			return err
		}
	}
	dev, err := rootfs.FindDisk("/sys/block", cfg.SystemDisk, 10*time.Second)
	if err != nil {
		return err
	}
	fstype, err := rootfs.FSType(dev)
	if err != nil {
		return err
	}
	if fstype != "ext4" { // ext4 is in initrdModules
		if err := idx.Load(fstype); err != nil {
			return err
		}
	}
	root, err := rootfs.Layout{Dir: "/sysroot"}.Mount(dev, fstype)
	if err != nil {
		return err
	}
	log.Info("system image mounted", "device", dev, "uptime", uptime())
	return rootfs.Switch(root, "/usr/sbin/guestd", []string{"/proc", "/sys", "/dev"}, nil)
}

func readCmdline() string {
	b, _ := os.ReadFile("/proc/cmdline")
	return strings.TrimSpace(string(b))
}

func kernelRelease() string {
	var u unix.Utsname
	unix.Uname(&u) //nolint:errcheck // the version is only logged
	return unix.ByteSliceToString(u.Release[:])
}

// uptime is seconds since the kernel started.
func uptime() float64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) //nolint:errcheck // the boot time is only logged
	return float64(ts.Nano()) / 1e9
}

// fatal is for errors that leave no system to run: the only way forward is
// the console. PID 1 must not exit (the kernel would panic and the log be
// lost), so it offers a shell and otherwise waits.
func fatal(log *slog.Logger, console io.Writer, err error) {
	log.Error("guestd cannot continue", "err", err)
	fmt.Fprintf(console, "\n%s%v\nboot with berth.debug=shell for a shell on this console\n", protocol.FatalMarker, err)
	if strings.Contains(readCmdline(), "berth.debug=shell") {
		shellLoop(log, nil)
	}
	for {
		time.Sleep(time.Hour)
	}
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return "dev-" + s.Value[:min(12, len(s.Value))]
			}
		}
	}
	return version
}
