package squashfs

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthvm/berth/packaging/imagebuild/fstree"
)

func fixture(t *testing.T) *fstree.Tree {
	t.Helper()
	tr := fstree.New()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(tr.MkdirAll("/usr/bin", 0o755))
	must(tr.Symlink("usr/bin", "/bin"))
	must(tr.WriteFile("/usr/bin/hello", []byte("#!/bin/sh\necho hello\n"), 0o755))
	must(tr.Put("/usr/bin/su", &fstree.Node{Mode: fs.ModeSetuid | 0o755, Data: []byte("su")}))
	must(tr.Put("/var/spool/cron", &fstree.Node{Mode: fs.ModeDir | fs.ModeSticky | 0o1730, GID: 101}))
	must(tr.Put("/etc/shadow", &fstree.Node{Mode: 0o640, GID: 42, Data: []byte("root:*:1::::::\n")}))
	// A file of several blocks, half random (incompressible), half zeros.
	big := make([]byte, 3*blockSize+1000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range len(big) / 2 {
		big[i] = byte(r.Uint32())
	}
	must(tr.WriteFile("/usr/lib/big", big, 0o644))
	must(tr.WriteFile("/usr/lib/big-copy", big, 0o644))
	must(tr.Put("/usr/lib/big-link", tr.Get("/usr/lib/big")))
	must(tr.WriteFile("/empty", nil, 0o600))
	must(tr.Put("/dev/console", &fstree.Node{Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, Major: 5, Minor: 1}))
	must(tr.Put("/dev/sda", &fstree.Node{Mode: fs.ModeDevice | 0o660, Major: 8, Minor: 44, GID: 6}))
	must(tr.Put("/run/fifo", &fstree.Node{Mode: fs.ModeNamedPipe | 0o644}))
	// A directory past one header's 256 entries and one metadata block.
	for i := range 700 {
		must(tr.WriteFile(fmt.Sprintf("/usr/share/many/file-with-a-long-name-%04d", i), []byte(fmt.Sprint(i)), 0o644))
	}
	return tr
}

func write(t *testing.T, tr *fstree.Tree, data Data) []byte {
	var b bytes.Buffer
	if err := Write(&b, tr, time.Unix(1700000000, 0), data); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReproducible(t *testing.T) {
	for _, data := range []Data{Compressed, Stored} {
		if !bytes.Equal(write(t, fixture(t), data), write(t, fixture(t), data)) {
			t.Fatalf("two writes (data %d) of the same tree differ", data)
		}
	}
	a := write(t, fixture(t), Compressed)
	if len(a)%4096 != 0 || string(a[:4]) != "hsqs" {
		t.Fatalf("image of %d bytes, magic %q", len(a), a[:4])
	}
	// No zstd frame has a content checksum (frame header descriptor bit
	// 2): the kernel fails to read one after a block that fills its pages.
	frames := 0
	for rest := a; ; {
		i := bytes.Index(rest, []byte("\x28\xb5\x2f\xfd"))
		if i < 0 || i+4 >= len(rest) {
			break
		}
		frames++
		if rest[i+4]&4 != 0 {
			t.Fatalf("zstd frame with a checksum at %d", len(a)-len(rest)+i)
		}
		rest = rest[i+4:]
	}
	if frames == 0 {
		t.Fatal("no zstd frames")
	}
}

// TestStored checks that a stored image holds every file's data as it is,
// each file's blocks one after the other, the largest file last.
func TestStored(t *testing.T) {
	tr := fixture(t)
	stored, compressed := write(t, tr, Stored), write(t, tr, Compressed)
	if len(stored) <= len(compressed) {
		t.Errorf("stored image %d bytes, compressed %d: want it larger", len(stored), len(compressed))
	}
	big := tr.Get("/usr/lib/big").Data
	i := bytes.Index(stored, big)
	if i < 0 {
		t.Fatal("the big file's data is not in the stored image as it is")
	}
	if bytes.Contains(stored[i+len(big):], big[:blockSize]) {
		t.Error("the big file's data is stored twice: a copy must share it")
	}
	if bytes.Index(stored, []byte("#!/bin/sh\necho hello\n")) > i {
		t.Error("a small file's data follows the big file's: want smallest first")
	}
}

// TestUnsquashfs reads the images back with squashfs-tools, when installed.
func TestUnsquashfs(t *testing.T) {
	if _, err := exec.LookPath("unsquashfs"); err != nil {
		t.Skip("unsquashfs not installed (squashfs-tools)")
	}
	for name, data := range map[string]Data{"compressed": Compressed, "stored": Stored} {
		t.Run(name, func(t *testing.T) { unsquashfs(t, data) })
	}
}

func unsquashfs(t *testing.T, data Data) {
	tr := fixture(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "img")
	os.WriteFile(img, write(t, tr, data), 0o644)
	out, err := exec.Command("unsquashfs", "-lln", img).CombinedOutput()
	if err != nil {
		t.Fatalf("unsquashfs -lln: %v\n%s", err, out)
	}
	listing := string(out)
	for _, want := range []string{
		"lrwxrwxrwx 0/0                       7 2023-11-14 22:13 squashfs-root/bin -> usr/bin",
		"-rwsr-xr-x 0/0                       2 2023-11-14 22:13 squashfs-root/usr/bin/su",
		"drwx-wx--T 0/101",
		"-rw-r----- 0/42",
		"5,  1 2023-11-14 22:13 squashfs-root/dev/console",
		"8, 44 2023-11-14 22:13 squashfs-root/dev/sda",
		"prw-r--r--",
		"squashfs-root/usr/share/many/file-with-a-long-name-0699",
	} {
		if !strings.Contains(listing, want) {
			t.Errorf("listing lacks %q", want)
		}
	}
	if testing.Verbose() {
		t.Log(listing[:min(len(listing), 2000)])
	}
	// Extract and compare contents (device nodes need root: skipped then).
	ext := filepath.Join(dir, "x")
	args := []string{"-d", ext, "-no-xattrs", img}
	if os.Getuid() != 0 {
		args = append(args, "usr", "etc", "empty")
	}
	if out, err := exec.Command("unsquashfs", args...).CombinedOutput(); err != nil {
		t.Fatalf("unsquashfs extract: %v\n%s", err, out)
	}
	err = tr.Walk(func(p string, n *fstree.Node) error {
		if !n.Mode.IsRegular() {
			return nil
		}
		got, err := os.ReadFile(filepath.Join(ext, p))
		if err != nil {
			return err
		}
		if !bytes.Equal(got, n.Data) {
			return fmt.Errorf("%s: content differs", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(filepath.Join(ext, "usr/lib/big"))
	b, _ := os.Stat(filepath.Join(ext, "usr/lib/big-link"))
	if !os.SameFile(a, b) { // two names of one inode: a hard link
		t.Error("hard link not kept")
	}
}
