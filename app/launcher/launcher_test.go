package launcher

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/app/settings"
	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/internal/hypervrights"
)

// daemonStub answers the control API's status and stats on the control
// socket of p, counting the requests by path.
func daemonStub(t *testing.T, p settings.Paths) func(path string) int {
	l, err := net.Listen("unix", p.ControlSocket())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	calls := map[string]int{}
	reply := func(v any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			calls[r.URL.Path]++
			mu.Unlock()
			json.NewEncoder(w).Encode(v)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", reply(control.Status{State: control.Running}))
	mux.HandleFunc("GET /v1/stats", reply(protocol.Stats{CPUs: 2}))
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return func(path string) int {
		mu.Lock()
		defer mu.Unlock()
		return calls[path]
	}
}

// One call of the GUI's is one request to the daemon.
func TestClientCallsOnce(t *testing.T) {
	p := settings.Paths{Data: t.TempDir(), Run: t.TempDir()}
	calls := daemonStub(t, p)
	c := Client{Paths: p}
	ctx := context.Background()
	if st, err := c.Status(ctx); err != nil || st.State != control.Running {
		t.Fatalf("status %+v, %v", st, err)
	}
	if s, err := c.Stats(ctx); err != nil || s.CPUs != 2 {
		t.Fatalf("stats %+v, %v", s, err)
	}
	if n := calls("/v1/status"); n != 1 {
		t.Errorf("%d status requests, want 1", n)
	}
	if n := calls("/v1/stats"); n != 1 {
		t.Errorf("%d stats requests, want 1", n)
	}
}

// Without a daemon the machine is stopped.
func TestClientWithoutDaemon(t *testing.T) {
	p := settings.Paths{Data: t.TempDir(), Run: t.TempDir()}
	c := Client{Paths: p}
	ctx := context.Background()
	if st, err := c.Status(ctx); err != nil || st.State != control.Stopped || st.DaemonLog != p.DaemonLog() {
		t.Errorf("status %+v, %v", st, err)
	}
	if _, err := c.Stats(ctx); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("stats: %v, want ErrNoDaemon", err)
	}
	if err := c.Events(ctx, func(control.Event) bool { return true }); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("events: %v, want ErrNoDaemon", err)
	}
	if err := c.Stop(ctx, false); err != nil {
		t.Errorf("stop: %v", err)
	}
	if running(ctx, p) != nil {
		t.Error("running found a daemon")
	}
}

// A host that cannot run Berth (a Windows user outside Hyper-V
// Administrators) is told so before a daemon starts: the berth binary
// given here would fail the test if it ran.
func TestEnsureChecksTheHostFirst(t *testing.T) {
	p := settings.Paths{Data: t.TempDir(), Run: t.TempDir()}
	refusal := hypervrights.Verdict(hypervrights.Token{User: `PC\bob`})
	_, err := ensure(context.Background(), p, "/nonexistent/berth-must-not-run", func() error { return refusal })
	if !errors.Is(err, hypervrights.ErrNoRights) {
		t.Fatalf("got %v, want the rights refusal", err)
	}
	// A daemon already running is used whatever the check says.
	daemonStub(t, p)
	if _, err := ensure(context.Background(), p, "", func() error { return refusal }); err != nil {
		t.Fatalf("running daemon: %v", err)
	}
}

func TestCheckDaemonBinary(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "Berth.app", "Contents", "MacOS")
	if err := os.MkdirAll(app, 0o755); err != nil {
		t.Fatal(err)
	}
	inBundle := filepath.Join(app, "berth")
	if err := os.WriteFile(inBundle, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	onPath := filepath.Join(dir, "bin", "berth") // ln -s …/Berth.app/Contents/MacOS/berth
	os.MkdirAll(filepath.Dir(onPath), 0o755)
	if err := os.Symlink(inBundle, onPath); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "build", "bin", "berth")
	for _, tc := range []struct {
		goos, exe string
		ok        bool
	}{
		{"darwin", inBundle, true},
		{"darwin", onPath, true},
		{"darwin", plain, false},
		{"linux", plain, true},
		{"windows", plain, true},
	} {
		err := CheckDaemonBinary(tc.goos, tc.exe)
		if (err == nil) != tc.ok {
			t.Errorf("%s %s: %v", tc.goos, tc.exe, err)
		}
		if err != nil && !strings.Contains(err.Error(), "Berth.app/Contents/MacOS/berth") {
			t.Errorf("the refusal does not point at the bundle: %v", err)
		}
	}
}
