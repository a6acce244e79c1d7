package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/berthvm/berth/app/settings"
	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/vmhost"
)

// resumerBackend is a backend whose VM paused, on a write error or not.
type resumerBackend struct {
	bootOnlyBackend
	mu      sync.Mutex
	ioError bool
	resumed int
}

func (b *resumerBackend) PausedOnIOError(ctx context.Context, name string) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ioError, nil
}

func (b *resumerBackend) Resume(ctx context.Context, name string) error {
	b.mu.Lock()
	b.resumed++
	b.mu.Unlock()
	b.set(vmhost.Running)
	return nil
}

func pausedDaemon(t *testing.T, b vmhost.Backend) (*Daemon, *session) {
	dir := t.TempDir()
	// The data disk is reached through a link, as when it lives on another
	// filesystem: the message names the file itself.
	resolved := filepath.Join(dir, "elsewhere.img")
	if err := os.WriteFile(resolved, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(resolved, filepath.Join(dir, "data.img")); err != nil {
		t.Fatal(err)
	}
	d := New(Options{Paths: settings.Paths{Data: dir}, Backend: b, Log: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return d, &session{ctx: ctx, cancel: cancel, stopped: make(chan struct{})}
}

// A VM paused on a write error is held, not destroyed, and resumes once its
// disk's filesystem has room (this temp dir has).
func TestPausedOnWriteErrorResumes(t *testing.T) {
	b := &resumerBackend{ioError: true}
	b.set(vmhost.Paused)
	d, run := pausedDaemon(t, b)
	if !d.holdPaused(run) {
		t.Fatal("a VM paused on a write error was not held")
	}
	run.wg.Wait()
	if b.resumed != 1 || run.held != "" {
		t.Fatalf("resumed %d times, still held: %q", b.resumed, run.held)
	}
	if st, _ := b.State(context.Background(), "berth"); st != vmhost.Running {
		t.Fatalf("state after resume: %s", st)
	}
}

// Any other pause, or a backend that cannot resume, is not held: the
// daemon treats the VM as gone, as before.
func TestOtherPausesAreNotHeld(t *testing.T) {
	d, run := pausedDaemon(t, &resumerBackend{ioError: false})
	if d.holdPaused(run) {
		t.Error("a VM paused for another reason was held")
	}
	d, run = pausedDaemon(t, &bootOnlyBackend{})
	if d.holdPaused(run) {
		t.Error("held on a backend that cannot resume")
	}
}

func TestHostDiskFullMessage(t *testing.T) {
	d, _ := pausedDaemon(t, &bootOnlyBackend{})
	msg := hostDiskFull(d.dataDiskFile(), 12<<10)
	for _, want := range []string{"host disk full: ", "elsewhere.img, 12 KiB free", "128 MiB"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
}

func TestDataDiskProblems(t *testing.T) {
	if p := dataDiskProblems(protocol.Usage{Total: 8 << 30, Used: 2 << 30}, 8); p != nil {
		t.Errorf("a disk with room: %v", p)
	}
	if p := dataDiskProblems(protocol.Usage{}, 8); p != nil {
		t.Errorf("no usage known: %v", p)
	}
	p := dataDiskProblems(protocol.Usage{Total: 8 << 30, Used: 8<<30 - 5<<20}, 8)
	if len(p) != 1 || !strings.Contains(p[0], "data disk full: 5 MiB free of 8.0 GiB") || !strings.Contains(p[0], "berth start --disk 16") {
		t.Errorf("a full disk: %v", p)
	}
}
