//go:build linux

package rosetta

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestRegistration(t *testing.T) {
	r := Registration("/run/rosetta/rosetta")
	f := strings.Split(r, ":")
	// :name:type:offset:magic:mask:interpreter:flags
	if len(f) != 8 || f[1] != "rosetta" || f[2] != "M" || f[6] != "/run/rosetta/rosetta" || f[7] != "OCF" {
		t.Fatalf("fields %q", f)
	}
	// magic and mask, \x-escaped, are an ELF header's first 20 bytes:
	// 64-bit, little-endian, executable, machine x86-64 (0x3e).
	magic, err1 := strconv.Unquote(`"` + f[4] + `"`)
	mask, err2 := strconv.Unquote(`"` + f[5] + `"`)
	if err1 != nil || err2 != nil || len(magic) != 20 || len(mask) != 20 ||
		magic[:4] != "\x7fELF" || magic[4] != 2 || magic[5] != 1 || magic[18] != 0x3e {
		t.Fatalf("magic %q, mask %q (%v, %v)", magic, mask, err1, err2)
	}
}

func TestEnable(t *testing.T) {
	binfmt := t.TempDir()
	var mounts []string
	e := Enabler{
		Load: func(string) error { return nil },
		Mount: func(source, target, fstype string, flags uintptr, data string) error {
			mounts = append(mounts, source+" "+target+" "+fstype)
			if fstype == "binfmt_misc" {
				return os.WriteFile(filepath.Join(binfmt, "register"), nil, 0o600)
			}
			return nil
		},
		Dir:       filepath.Join(t.TempDir(), "rosetta"),
		BinfmtDir: binfmt,
	}
	if err := e.Enable("rosetta"); err != nil {
		t.Fatal(err)
	}
	if strings.Join(mounts, ", ") != "rosetta "+e.Dir+" virtiofs, binfmt_misc "+binfmt+" binfmt_misc" {
		t.Fatalf("mounts: %v", mounts)
	}
	got, _ := os.ReadFile(filepath.Join(binfmt, "register"))
	if string(got) != Registration(e.Dir+"/rosetta") {
		t.Fatalf("registered %q", got)
	}
	e.Mount = func(string, string, string, uintptr, string) error { return errors.New("no such device") }
	if err := e.Enable("rosetta"); err == nil || !strings.Contains(err.Error(), `mount the "rosetta" share: no such device`) {
		t.Fatalf("err = %v", err)
	}
}
