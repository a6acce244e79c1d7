package cpio

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthvm/berth/packaging/imagebuild/fstree"
)

func TestWrite(t *testing.T) {
	tr := fstree.New()
	tr.WriteFile("/init", []byte("#!/bin/sh\n"), 0o755)
	tr.Put("/dev/console", &fstree.Node{Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, Major: 5, Minor: 1})
	tr.WriteFile("/lib/modules/6.12/kernel/fs/x.ko", []byte("elf"), 0o644)
	tr.Symlink("lib", "/usr")
	var a, b bytes.Buffer
	if err := Write(&a, tr, time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	Write(&b, tr, time.Unix(1700000000, 0))
	if !bytes.Equal(a.Bytes(), b.Bytes()) || a.Len()%4 != 0 {
		t.Fatal("not reproducible or not padded")
	}
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("cpio not installed")
	}
	path := filepath.Join(t.TempDir(), "initrd")
	os.WriteFile(path, a.Bytes(), 0o644)
	cmd := exec.Command("cpio", "-itv", "--quiet", "-F", path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio: %v\n%s", err, out)
	}
	for _, want := range []string{"crw-------   1 root     root       5,   1", "-rwxr-xr-x   1 root     root           10", "init", "lib/modules/6.12/kernel/fs/x.ko", "usr -> lib"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("listing lacks %q:\n%s", want, out)
		}
	}
}
