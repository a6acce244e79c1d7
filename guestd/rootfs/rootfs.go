//go:build linux

// Package rootfs is the initrd's job: find the read-only system image by its
// disk serial, put a tmpfs overlay on top so the running system is writable
// but every boot starts from the pristine image, and switch into it.
package rootfs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthvm/berth/guestd/protocol"
)

// FindDisk returns /dev/NAME of the block device with the given ID, waiting
// up to wait for it to appear: virtio-blk's serial, set by the host, or
// protocol.SCSILUN+N for the SCSI disk at LUN N. sysBlock is normally /sys/block.
func FindDisk(sysBlock, id string, wait time.Duration) (string, error) {
	deadline := time.Now().Add(wait)
	for {
		entries, err := os.ReadDir(sysBlock)
		if err != nil {
			return "", fmt.Errorf("find disk %q: %w", id, err)
		}
		var seen []string
		for _, e := range entries {
			got, ok := diskID(filepath.Join(sysBlock, e.Name()), strings.HasPrefix(id, protocol.SCSILUN))
			if !ok {
				continue
			}
			seen = append(seen, e.Name()+"="+got)
			if got == id {
				return "/dev/" + e.Name(), nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no disk %q after %v (disks seen: %s); is the disk attached with that ID?", id, wait, strings.Join(seen, ", "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// diskID is a block device's serial, or with scsi its protocol.SCSILUN ID from the
// H:C:T:L address its device link ends in.
func diskID(dir string, scsi bool) (string, bool) {
	if scsi {
		dev, err := os.Readlink(filepath.Join(dir, "device"))
		if err != nil {
			return "", false
		}
		hctl := strings.Split(filepath.Base(dev), ":")
		if len(hctl) != 4 {
			return "", false
		}
		return protocol.SCSILUN + hctl[3], true
	}
	b, err := os.ReadFile(filepath.Join(dir, "serial"))
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

// Layout names the directories of the switch.
type Layout struct {
	Dir string // scratch directory in the initramfs, e.g. /sysroot
}

func (l Layout) lower() string  { return filepath.Join(l.Dir, "lower") }
func (l Layout) upper() string  { return filepath.Join(l.Dir, "upper") }
func (l Layout) merged() string { return filepath.Join(l.Dir, "root") }

// OverlayOptions is the overlay mount data for the layout.
func (l Layout) OverlayOptions() string {
	return fmt.Sprintf("lowerdir=%s,upperdir=%s/data,workdir=%s/work", l.lower(), l.upper(), l.upper())
}

// FSType names the system image's filesystem by its superblock: "ext4"
// (make guest-image) or "squashfs" (the Go builder, mkguest). Only the
// kernel module of the one found need be loaded.
func FSType(device string) (string, error) {
	f, err := os.Open(device)
	if err != nil {
		return "", fmt.Errorf("system image: %w", err)
	}
	defer f.Close()
	b := make([]byte, 2048)
	if _, err := io.ReadFull(f, b); err != nil {
		return "", fmt.Errorf("system image %s: read superblock: %w", device, err)
	}
	return fsType(b)
}

func fsType(b []byte) (string, error) {
	switch {
	case string(b[0:4]) == "hsqs":
		return "squashfs", nil
	case b[1080] == 0x53 && b[1081] == 0xef: // ext2/3/4 magic 0xEF53
		return "ext4", nil
	}
	return "", fmt.Errorf("system image: neither squashfs nor ext4 (first bytes %x): rebuild the guest image", b[:8])
}

// Mount mounts the system image, of filesystem fstype, read-only with a
// tmpfs overlay and returns the directory of the merged root.
func (l Layout) Mount(device, fstype string) (string, error) {
	for _, d := range []string{l.lower(), l.upper(), l.merged()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	// noload: never replay a journal on the image, which stays bit-identical.
	opts := ""
	if fstype == "ext4" {
		opts = "noload"
	}
	if err := unix.Mount(device, l.lower(), fstype, unix.MS_RDONLY, opts); err != nil {
		return "", fmt.Errorf("mount system image %s: %w", device, err)
	}
	if err := unix.Mount("tmpfs", l.upper(), "tmpfs", 0, "mode=0755"); err != nil {
		return "", fmt.Errorf("mount overlay tmpfs: %w", err)
	}
	for _, d := range []string{"data", "work"} {
		if err := os.MkdirAll(filepath.Join(l.upper(), d), 0o755); err != nil {
			return "", err
		}
	}
	if err := unix.Mount("overlay", l.merged(), "overlay", 0, l.OverlayOptions()); err != nil {
		return "", fmt.Errorf("mount overlay root: %w", err)
	}
	return l.merged(), nil
}

// Switch moves the kernel filesystems into newRoot, makes it / and execs
// init there. The initramfs's files are deleted first so their memory is
// freed; this process keeps running from memory until exec.
func Switch(newRoot, init string, keep []string, args []string) error {
	for _, m := range keep {
		target := filepath.Join(newRoot, m)
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m, target, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move %s into the new root: %w", m, err)
		}
	}
	for _, f := range []string{"/init", "/lib", "/etc"} {
		os.RemoveAll(f)
	}
	if err := unix.Chdir(newRoot); err != nil {
		return err
	}
	if err := unix.Mount(newRoot, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move new root to /: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Exec(init, append([]string{init}, args...), os.Environ()); err != nil {
		return fmt.Errorf("exec %s: %w", init, err)
	}
	return nil
}
