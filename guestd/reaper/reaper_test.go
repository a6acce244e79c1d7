//go:build linux

package reaper

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// One reaper for the whole test binary, as in guestd: two wait4(-1) loops in
// one process would steal each other's children.
var shared = sync.OnceValue(func() *Reaper {
	r := New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	go r.Reap(context.Background())
	return r
})

func start(*testing.T) *Reaper { return shared() }

func TestExitStatuses(t *testing.T) {
	r := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if err := r.Run(ctx, exec.Command("true")); err != nil {
		t.Fatalf("true: %v", err)
	}
	err := r.Run(ctx, exec.Command("sh", "-c", "exit 3"))
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Status.ExitStatus() != 3 {
		t.Fatalf("exit 3: got %v", err)
	}
	p, err := r.Start(exec.Command("sleep", "30"))
	if err != nil {
		t.Fatal(err)
	}
	p.Signal(unix.SIGTERM)
	if err := p.Wait(ctx); err == nil || !strings.Contains(err.Error(), "signal terminated") {
		t.Fatalf("killed sleep: got %v", err)
	}
	// Wait again returns the same answer instead of blocking.
	if err := p.Wait(ctx); err == nil {
		t.Fatal("second Wait lost the status")
	}
}

// Many children that exit at once must each get their own status.
func TestManyQuickChildren(t *testing.T) {
	r := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		go func(code int) {
			err := r.Run(ctx, exec.Command("sh", "-c", "exit "+string(rune('0'+code))))
			var ee *ExitError
			switch {
			case code == 0 && err == nil:
				errs <- nil
			case errors.As(err, &ee) && ee.Status.ExitStatus() == code:
				errs <- nil
			default:
				errs <- err
			}
		}(i % 5)
	}
	for i := 0; i < 50; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// As a subreaper (like PID 1) the process inherits orphans; they must not
// stay zombies.
func TestReapsOrphans(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skip(err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	r := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := r.Output(ctx, exec.Command("sh", "-c", "sleep 0.2 & echo $!"))
	if err != nil {
		t.Fatal(err)
	}
	orphan := strings.TrimSpace(string(out))
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + orphan + "/stat")
		if err != nil {
			return // gone: reaped
		}
		if time.Now().After(deadline) {
			t.Fatalf("orphan %s still there: %s", orphan, stat)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestOutputAndStdioCheck(t *testing.T) {
	r := start(t)
	ctx := context.Background()
	out, err := r.Output(ctx, exec.Command("sh", "-c", "echo out; echo err >&2"))
	if err != nil || string(out) != "out\nerr\n" {
		t.Fatalf("output %q, %v", out, err)
	}
	cmd := exec.Command("true")
	cmd.Stdout = &bytes.Buffer{}
	if _, err := r.Start(cmd); err == nil {
		t.Fatal("a bytes.Buffer stdout must be refused")
	}
}

// Signalling a process the reaper has already reaped must not lose its exit
// status: `berth shell` signals the command after its output ends, then waits.
func TestSignalAfterExitKeepsStatus(t *testing.T) {
	r := start(t)
	p, err := r.Start(exec.Command("sh", "-c", "exit 7"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("not reaped")
	}
	if err := p.Signal(unix.SIGHUP); err != nil {
		t.Fatalf("signal after exit: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var ee *ExitError
	if err := p.Wait(ctx); !errors.As(err, &ee) || ee.Status.ExitStatus() != 7 {
		t.Fatalf("Wait after Signal: %v", err)
	}
}
