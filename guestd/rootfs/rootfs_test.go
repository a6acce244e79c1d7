//go:build linux

package rootfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthvm/berth/guestd/protocol"
)

func fakeSysBlock(t *testing.T, disks map[string]string) string {
	dir := t.TempDir()
	for name, serial := range disks {
		os.MkdirAll(filepath.Join(dir, name), 0o755)
		if serial != "" {
			os.WriteFile(filepath.Join(dir, name, "serial"), []byte(serial+"\n"), 0o644)
		}
	}
	return dir
}

func TestFindDiskBySerial(t *testing.T) {
	sys := fakeSysBlock(t, map[string]string{"vda": "berth-data", "vdb": "berth-system", "loop0": ""})
	got, err := FindDisk(sys, "berth-system", 0)
	if err != nil || got != "/dev/vdb" {
		t.Fatalf("got %q, %v; want /dev/vdb", got, err)
	}
}

// Hyper-V's SCSI disks are found by LUN: sysfs links each to its
// H:C:T:L device.
func TestFindDiskBySCSILUN(t *testing.T) {
	sys := fakeSysBlock(t, map[string]string{"vda": "berth-data"})
	for name, hctl := range map[string]string{"sda": "0:0:0:0", "sdb": "0:0:0:2", "sdc": "1:0:0:1"} {
		os.MkdirAll(filepath.Join(sys, name), 0o755)
		if err := os.Symlink("../../devices/vmbus/host0/target0:0:0/"+hctl, filepath.Join(sys, name, "device")); err != nil {
			t.Fatal(err)
		}
	}
	got, err := FindDisk(sys, protocol.SCSILUN+"2", 0)
	if err != nil || got != "/dev/sdb" {
		t.Fatalf("got %q, %v; want /dev/sdb", got, err)
	}
	_, err = FindDisk(sys, protocol.SCSILUN+"7", 0)
	if err == nil || !strings.Contains(err.Error(), "sdc=scsi-lun:1") {
		t.Fatalf("err = %v, want it to list the LUNs seen", err)
	}
}

func TestFindDiskWaitsThenNamesWhatItSaw(t *testing.T) {
	sys := fakeSysBlock(t, map[string]string{"vda": "other"})
	go func() {
		time.Sleep(100 * time.Millisecond)
		os.MkdirAll(filepath.Join(sys, "vdb"), 0o755)
		os.WriteFile(filepath.Join(sys, "vdb", "serial"), []byte("late"), 0o644)
	}()
	if got, err := FindDisk(sys, "late", 5*time.Second); err != nil || got != "/dev/vdb" {
		t.Fatalf("late disk: %q, %v", got, err)
	}
	_, err := FindDisk(sys, "berth-system", 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "vda=other") {
		t.Fatalf("err = %v, want it to list the disks seen", err)
	}
}

func TestOverlayOptions(t *testing.T) {
	got := Layout{Dir: "/sysroot"}.OverlayOptions()
	want := "lowerdir=/sysroot/lower,upperdir=/sysroot/upper/data,workdir=/sysroot/upper/work"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestFSType(t *testing.T) {
	sq := make([]byte, 2048)
	copy(sq, "hsqs")
	ext := make([]byte, 2048)
	ext[1080], ext[1081] = 0x53, 0xef
	for _, c := range []struct {
		b    []byte
		want string
	}{{sq, "squashfs"}, {ext, "ext4"}, {make([]byte, 2048), ""}} {
		got, err := fsType(c.b)
		if got != c.want || (c.want == "") != (err != nil) {
			t.Errorf("fsType = %q, %v; want %q", got, err, c.want)
		}
	}
}
