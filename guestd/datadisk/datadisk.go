// Package datadisk prepares the persistent data disk that holds images,
// containers and volumes: it formats a blank disk once, checks an existing
// filesystem, grows it to fill a resized disk and mounts it. It never formats
// a disk that holds anything.
package datadisk

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"

	"github.com/berthvm/berth/guestd/protocol"
)

// Kind is what the disk holds.
type Kind int

// What a disk holds: nothing (zeros), Berth's ext4, or something else.
const (
	Blank Kind = iota
	Ext4
	Unknown
)

// probeSize is how much of the start of the disk must be zero for it to
// count as blank. Partition tables, boot sectors and every common filesystem
// superblock live in the first MiB, except btrfs (64 KiB, inside it too).
const probeSize = 1 << 20

// Probe reads the start of dev and says what is there. For Unknown the
// string names what was recognised.
func Probe(dev string) (Kind, string, error) {
	f, err := os.Open(dev)
	if err != nil {
		return Unknown, "", fmt.Errorf("probe data disk: %w", err)
	}
	defer f.Close()
	buf := make([]byte, probeSize)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return Unknown, "", fmt.Errorf("probe data disk %s: %w", dev, err)
	}
	buf = buf[:n]
	if n < 2048 {
		return Unknown, "", fmt.Errorf("data disk %s is only %d bytes", dev, n)
	}
	// ext2/3/4 superblock at 1024, magic 0xEF53 at offset 56.
	if binary.LittleEndian.Uint16(buf[1024+56:]) == 0xEF53 {
		return Ext4, "ext4", nil
	}
	if isZero(buf) {
		return Blank, "", nil
	}
	return Unknown, identify(buf), nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// identify names common on-disk signatures for the error message.
func identify(b []byte) string {
	at := func(off int, sig string) bool {
		return len(b) >= off+len(sig) && string(b[off:off+len(sig)]) == sig
	}
	switch {
	case at(512, "EFI PART"):
		return "a GPT partition table"
	case at(0, "LUKS\xba\xbe"):
		return "a LUKS encrypted volume"
	case at(0, "XFSB"):
		return "an XFS filesystem"
	case at(0x10040, "_BHRfS_M"):
		return "a btrfs filesystem"
	case at(4086, "SWAPSPACE2"):
		return "a swap area"
	case at(510, "\x55\xaa"):
		return "an MBR partition table or boot sector"
	}
	return "unrecognised data"
}

// Runner runs external tools (the reaper, when guestd is PID 1).
type Runner interface {
	Output(ctx context.Context, cmd *exec.Cmd) ([]byte, error)
}

// Disk is the data disk and how to reach it.
type Disk struct {
	Device     string
	MountPoint string
	Label      string
	Run        Runner
	// Mount mounts the checked filesystem; nil for tests that stop before.
	Mount func(device, target string) error
	Log   *slog.Logger
}

// Prepare formats (blank disk only), checks, mounts and grows the disk.
func (d Disk) Prepare(ctx context.Context) (protocol.DataDiskReport, error) {
	var rep protocol.DataDiskReport
	kind, what, err := Probe(d.Device)
	if err != nil {
		return rep, err
	}
	switch kind {
	case Unknown:
		return rep, fmt.Errorf("data disk %s holds %s, not an ext4 filesystem; refusing to format it (delete the machine's data disk to start afresh)", d.Device, what)
	case Blank:
		d.Log.Info("formatting blank data disk", "device", d.Device)
		// Lazy init leaves inode tables to the kernel: formatting a large
		// sparse disk takes a second instead of minutes.
		out, err := d.Run.Output(ctx, exec.Command("mkfs.ext4", "-q", "-F", "-L", d.Label, "-m", "0",
			"-E", "lazy_itable_init=1,lazy_journal_init=1", d.Device))
		if err != nil {
			return rep, fmt.Errorf("format data disk %s: %w%s", d.Device, err, detail(out))
		}
		rep.Formatted = true
	case Ext4:
		out, err := d.Run.Output(ctx, exec.Command("e2fsck", "-p", d.Device))
		rep.Check = lastLine(out)
		code := exitCode(err)
		switch code {
		case 0:
		case 1, 2:
			// Errors were corrected (after an unclean shutdown, say).
			rep.Repaired = true
			d.Log.Warn("data disk had errors that e2fsck corrected", "output", strings.TrimSpace(string(out)))
		default:
			return rep, fmt.Errorf("data disk %s has filesystem errors that e2fsck could not fix automatically (%v)%s", d.Device, err, detail(out))
		}
	}
	if d.Mount == nil {
		return rep, nil
	}
	if err := os.MkdirAll(d.MountPoint, 0o755); err != nil {
		return rep, fmt.Errorf("mount data disk: %w", err)
	}
	if err := d.Mount(d.Device, d.MountPoint); err != nil {
		return rep, fmt.Errorf("mount data disk %s on %s: %w", d.Device, d.MountPoint, err)
	}
	// The host may have grown the disk since the last boot; online resize
	// is a no-op when the filesystem already fills it.
	if out, err := d.Run.Output(ctx, exec.Command("resize2fs", d.Device)); err != nil {
		d.Log.Warn("could not grow the data disk filesystem", "err", err, "output", strings.TrimSpace(string(out)))
	}
	return rep, nil
}

// detail formats a tool's output for the end of an error message.
func detail(out []byte) string {
	if s := strings.TrimSpace(string(out)); s != "" {
		return ": " + s
	}
	return ""
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// exitCode returns the exit status of a finished command error, 0 for nil
// and -1 for anything else.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return -1
}
