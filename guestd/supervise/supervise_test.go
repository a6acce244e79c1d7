//go:build linux

package supervise

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthvm/berth/internal/syncbuf"

	"golang.org/x/sys/unix"

	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/guestd/reaper"
)

func TestBackoffNext(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 8 * time.Second, ResetAfter: time.Minute}
	var d time.Duration
	var got []time.Duration
	for i := 0; i < 6; i++ {
		d = b.Next(d, time.Second)
		got = append(got, d)
	}
	want := []time.Duration{1, 2, 4, 8, 8, 8}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("delays %v, want %v seconds", got, want)
		}
	}
	if d := b.Next(8*time.Second, 2*time.Minute); d != time.Second {
		t.Fatalf("after a long run the delay is %v, want reset to 1s", d)
	}
}

// One reaper per test binary, as in guestd.
var sharedReaper = sync.OnceValue(func() *reaper.Reaper {
	r := reaper.New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	go r.Reap(context.Background())
	return r
})

func newReaper(*testing.T) *reaper.Reaper { return sharedReaper() }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A service that crashes twice and then stays up is restarted, its output
// kept, and it becomes ready once it stays up.
func TestRestartsCrashingService(t *testing.T) {
	dir := t.TempDir()
	counter := filepath.Join(dir, "runs")
	readyFile := filepath.Join(dir, "ready")
	// Each run appends to the counter; the third run creates the ready file
	// and sleeps (a healthy daemon).
	script := `echo run >> ` + counter + `
n=$(wc -l < ` + counter + `)
echo "starting attempt $n"
if [ "$n" -lt 3 ]; then echo "fatal: attempt $n failed" >&2; exit 1; fi
touch ` + readyFile + `
exec sleep 60`
	out := &syncbuf.Buffer{}
	svc := Service{
		Name:    "fakeengine",
		Command: func() *exec.Cmd { return exec.Command("sh", "-c", script) },
		Ready: func(ctx context.Context) error {
			for {
				if _, err := os.Stat(readyFile); err == nil {
					return nil
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(10 * time.Millisecond):
				}
			}
		},
		Backoff: Backoff{Min: 10 * time.Millisecond, Max: 40 * time.Millisecond, ResetAfter: time.Minute},
		Output:  out,
	}
	s := New(svc, newReaper(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, 2*time.Second); close(done) }()

	select {
	case <-s.Ready():
	case <-time.After(10 * time.Second):
		t.Fatalf("never ready; status %+v", s.Status())
	}
	st := s.Status()
	if st.State != protocol.ServiceRunning || st.Restarts != 2 || st.Pid == 0 {
		t.Fatalf("status %+v, want running after 2 restarts", st)
	}
	if !strings.Contains(st.LastError, "exit status 1") {
		t.Fatalf("last error %q, want the crash's exit status", st.LastError)
	}
	if !strings.Contains(out.String(), "[fakeengine] fatal: attempt 2 failed") {
		t.Fatalf("output not forwarded with prefix:\n%s", out.String())
	}

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if st := s.Status(); st.State != protocol.ServiceStopped {
		t.Fatalf("state after cancel %s, want stopped", st.State)
	}
	if err := unix.Kill(st.Pid, 0); err == nil {
		t.Fatalf("pid %d still alive after stop", st.Pid)
	}
}

// A service that ignores SIGTERM is killed after the grace period.
func TestStopEscalatesToKill(t *testing.T) {
	out := &syncbuf.Buffer{}
	svc := Service{
		Name: "stubborn",
		Command: func() *exec.Cmd {
			return exec.Command("sh", "-c", `trap "" TERM; echo up; while :; do sleep 0.05; done`)
		},
		Output: out,
	}
	s := New(svc, newReaper(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, 300*time.Millisecond); close(done) }()
	// Only once it prints is the TERM trap in place.
	waitFor(t, "the service to start", func() bool { return strings.Contains(out.String(), "up") })
	start := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stubborn service was not killed")
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Fatalf("stopped after %v: the grace period was not honoured", el)
	}
}

// A command that cannot start at all is reported and retried, not fatal.
func TestMissingBinary(t *testing.T) {
	exits := make(chan protocol.ServiceStatus, 10)
	svc := Service{
		Name:    "ghost",
		OnExit:  func(st protocol.ServiceStatus) { exits <- st },
		Command: func() *exec.Cmd { return exec.Command("/nonexistent/dockerd") },
		Backoff: Backoff{Min: 5 * time.Millisecond, Max: 5 * time.Millisecond, ResetAfter: time.Minute},
	}
	s := New(svc, newReaper(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx, time.Second)
	waitFor(t, "restarts", func() bool { return s.Status().Restarts >= 3 })
	if st := s.Status(); !strings.Contains(st.LastError, "/nonexistent/dockerd") {
		t.Fatalf("last error %q does not name the binary", st.LastError)
	}
	for i := 1; i <= 3; i++ {
		if st := <-exits; st.Restarts != i || st.State != protocol.ServiceRestarting {
			t.Fatalf("exit %d reported as %+v", i, st)
		}
	}
}
