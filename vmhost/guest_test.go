package vmhost

import (
	"path/filepath"
	"reflect"
	"testing"
)

type hvFiles struct{ Backend }

func (hvFiles) GuestFiles(dir string) []string {
	return []string{filepath.Join(dir, "hyperv", "boot.vhdx")}
}

func TestGuestFilesOf(t *testing.T) {
	var plain Backend
	want := []string{filepath.Join("g", "vmlinuz"), filepath.Join("g", "initrd.img"), filepath.Join("g", "system.img")}
	if got := GuestFilesOf(plain, "g"); !reflect.DeepEqual(got, want) {
		t.Errorf("default: %v, want %v", got, want)
	}
	want = []string{filepath.Join("g", "hyperv", "boot.vhdx")}
	if got := GuestFilesOf(hvFiles{}, "g"); !reflect.DeepEqual(got, want) {
		t.Errorf("a GuestFiler's own: %v, want %v", got, want)
	}
}
