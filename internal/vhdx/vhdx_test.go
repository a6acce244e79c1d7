package vhdx

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// qemuImg makes a dynamic VHDX as qemu-img does (the layout Hyper-V writes).
func qemuImg(t *testing.T, size string) string {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img is not installed")
	}
	p := filepath.Join(t.TempDir(), "d.vhdx")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "vhdx", p, size).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v: %s", err, out)
	}
	return p
}

func TestVirtualSizeIsNotTheFileSize(t *testing.T) {
	for size, want := range map[string]int64{"3G": 3 << 30, "64G": 64 << 30, "1M": 1 << 20} {
		p := qemuImg(t, size)
		got, err := VirtualSize(p)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(p)
		if got != want {
			t.Errorf("%s: virtual size %d, want %d (file %d)", size, got, want, fi.Size())
		}
	}
}

// A torn write of the first region table leaves the second to read.
func TestVirtualSizeFallsBackToTheSecondRegionTable(t *testing.T) {
	p := qemuImg(t, "5G")
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("garbage"), regionTable1+40)
	f.Close()
	if got, err := VirtualSize(p); err != nil || got != 5<<30 {
		t.Fatalf("got %d, %v", got, err)
	}
}

func TestVirtualSizeRefuses(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "raw.img")
	os.WriteFile(raw, make([]byte, 512<<10), 0o644)
	if _, err := VirtualSize(raw); err == nil || !strings.Contains(err.Error(), "not a VHDX image") {
		t.Errorf("raw image: %v", err)
	}
	if _, err := VirtualSize(filepath.Join(dir, "none.vhdx")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	p := qemuImg(t, "5G")
	f, _ := os.OpenFile(p, os.O_WRONLY, 0)
	f.WriteAt([]byte("garbage"), regionTable1+40)
	f.WriteAt([]byte("garbage"), regionTable2+40)
	f.Close()
	if _, err := VirtualSize(p); err == nil || !strings.Contains(err.Error(), "no valid region table") {
		t.Errorf("both region tables torn: %v", err)
	}
}
