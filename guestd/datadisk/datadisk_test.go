//go:build linux

package datadisk

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/berthvm/berth/guestd/reaper"
)

func newDisk(t *testing.T, size int64) Disk {
	t.Helper()
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip("e2fsprogs not installed")
	}
	path := filepath.Join(t.TempDir(), "data.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return Disk{Device: path, Label: "berth-data", Run: sharedReaper(), Log: slog.New(slog.DiscardHandler)}
}

// One reaper per test binary, as in guestd.
var sharedReaper = sync.OnceValue(func() *reaper.Reaper {
	r := reaper.New(slog.New(slog.DiscardHandler))
	go r.Reap(context.Background())
	return r
})

func uuid(t *testing.T, dev string) string {
	// Through the reaper: it would steal a plain exec's exit status.
	out, err := sharedReaper().Output(context.Background(), exec.Command("dumpe2fs", "-h", dev))
	if err != nil {
		t.Fatalf("dumpe2fs: %v: %s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Filesystem UUID:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "Filesystem UUID:"))
		}
	}
	t.Fatal("no UUID")
	return ""
}

// A blank disk is formatted once; the next boot checks it and keeps it.
func TestFormatsBlankDiskOnce(t *testing.T) {
	d := newDisk(t, 64<<20)
	ctx := context.Background()
	rep, err := d.Prepare(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Formatted {
		t.Fatal("blank disk not formatted")
	}
	if k, _, _ := Probe(d.Device); k != Ext4 {
		t.Fatalf("after format probe says %v", k)
	}
	id := uuid(t, d.Device)
	rep, err = d.Prepare(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Formatted || rep.Repaired {
		t.Fatalf("second prepare: %+v, want a plain check", rep)
	}
	if uuid(t, d.Device) != id {
		t.Fatal("the filesystem was recreated")
	}
}

// A disk with anything else on it is refused, never formatted.
func TestRefusesForeignData(t *testing.T) {
	for name, write := range map[string]struct {
		off  int64
		data string
		want string
	}{
		"gpt":     {512, "EFI PART", "GPT partition table"},
		"garbage": {300 << 10, "hello", "unrecognised data"},
		"luks":    {0, "LUKS\xba\xbe", "LUKS"},
	} {
		t.Run(name, func(t *testing.T) {
			d := newDisk(t, 8<<20)
			f, _ := os.OpenFile(d.Device, os.O_WRONLY, 0)
			f.WriteAt([]byte(write.data), write.off)
			f.Close()
			_, err := d.Prepare(context.Background())
			if err == nil || !strings.Contains(err.Error(), write.want) || !strings.Contains(err.Error(), "refusing to format") {
				t.Fatalf("err = %v, want a refusal naming %q", err, write.want)
			}
			b, _ := os.ReadFile(d.Device)
			if !strings.Contains(string(b), write.data) {
				t.Fatal("the disk was modified")
			}
		})
	}
}

// A filesystem damaged beyond automatic repair is reported, not mounted.
func TestReportsUnfixableFilesystem(t *testing.T) {
	d := newDisk(t, 64<<20)
	if _, err := d.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A root inode that is not a directory is an inconsistency e2fsck -p
	// leaves to a human.
	// Marking the filesystem not clean, as a crash does, makes e2fsck look.
	for _, req := range []string{"set_inode_field <2> mode 0100644", "ssv state 0"} {
		out, err := sharedReaper().Output(context.Background(), exec.Command("debugfs", "-w", "-R", req, d.Device))
		if err != nil {
			t.Fatalf("debugfs %s: %v: %s", req, err, out)
		}
	}
	mounted := false
	d.Mount = func(string, string) error { mounted = true; return nil }
	d.MountPoint = t.TempDir()
	_, err := d.Prepare(context.Background())
	if err == nil || !strings.Contains(err.Error(), "e2fsck could not fix") {
		t.Fatalf("err = %v, want the e2fsck failure", err)
	}
	if mounted {
		t.Fatal("a damaged filesystem was mounted")
	}
}

func TestProbeTooSmall(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tiny")
	os.WriteFile(p, []byte("x"), 0o600)
	if _, _, err := Probe(p); err == nil || !strings.Contains(err.Error(), "only 1 bytes") {
		t.Fatalf("err = %v", err)
	}
}
