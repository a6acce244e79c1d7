package vmhost

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnsureDisk(t *testing.T) {
	p := filepath.Join(t.TempDir(), "data.img")
	created, grown, err := EnsureDisk(RawDisk{}, p, 8<<30)
	if err != nil || !created || grown {
		t.Fatalf("create: %v %v %v", created, grown, err)
	}
	fi, _ := os.Stat(p)
	if fi.Size() != 8<<30 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("size %d mode %v", fi.Size(), fi.Mode())
	}
	os.WriteFile(p+".marker", nil, 0o600)
	f, _ := os.OpenFile(p, os.O_WRONLY, 0)
	f.WriteAt([]byte("data"), 1<<20)
	f.Close()
	if created, grown, err = EnsureDisk(RawDisk{}, p, 8<<30); err != nil || created || grown {
		t.Fatalf("same size: %v %v %v", created, grown, err)
	}
	if _, grown, err = EnsureDisk(RawDisk{}, p, 10<<30); err != nil || !grown {
		t.Fatalf("grow: %v %v", grown, err)
	}
	b := make([]byte, 4)
	f, _ = os.Open(p)
	f.ReadAt(b, 1<<20)
	f.Close()
	if string(b) != "data" {
		t.Fatal("growing lost data")
	}
	_, _, err = EnsureDisk(RawDisk{}, p, 4<<30)
	if err == nil || !strings.Contains(err.Error(), "cannot shrink") || !strings.Contains(err.Error(), "10.0 GiB") {
		t.Fatalf("shrink: %v", err)
	}
}

func TestSpecValidate(t *testing.T) {
	ok := Spec{Name: "berth", CPUs: 2, MemoryMiB: 2048, Kernel: "k", Initrd: "i", SystemImage: "s", DataDisk: "d", NetSocket: "n", MAC: "m"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := ok
	bad.CPUs = 0
	if bad.Validate() == nil {
		t.Fatal("0 CPUs accepted")
	}
	bad = ok
	bad.NetSocket = ""
	if bad.Validate() == nil {
		t.Fatal("no network accepted")
	}
}
