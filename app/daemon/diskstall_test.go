package daemon

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthvm/berth/internal/syncbuf"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/guestd/protocol"
)

func TestStallWatchLogsOnceAndGates(t *testing.T) {
	var logs syncbuf.Buffer
	w := newStallWatch(slog.New(slog.NewTextHandler(&logs, nil)))
	since := time.Date(2026, 12, 7, 6, 12, 3, 0, time.UTC)
	w.now = func() time.Time { return since.Add(time.Minute) }
	req := func(path string) *http.Request { return httptest.NewRequest(http.MethodGet, path, nil) }

	if wait, err := w.gate(req("/v1.45/containers/json")); wait != 0 || err != nil {
		t.Fatalf("no stall: %v %v", wait, err)
	}
	stall := &protocol.DiskStall{Device: "vdb", DataDisk: true, Since: since, InFlight: 12}
	for range 3 {
		w.set(stall) // every poll says so; the log says it once
	}
	if n := strings.Count(logs.String(), "the VM's disk stopped answering"); n != 1 {
		t.Fatalf("logged %d times:\n%s", n, logs.String())
	}
	for path, ping := range map[string]bool{
		"/_ping": true, "/v1.45/_ping": true, "/version": true, "/v1.45/version": true,
		"/v1.45/containers/json": false, "/v1.45/containers/x/logs": false, "/events": false, "/v1.45/containers/x/version": false,
	} {
		wait, err := w.gate(req(path))
		if err == nil || !strings.HasPrefix(err.Error(), "Berth: the VM's disk (vdb) stopped answering since ") || (wait > 0) != ping {
			t.Errorf("%s: %v %v", path, wait, err)
		}
	}
	// A loop device made in the VM is reported, and docker goes on.
	w.set(&protocol.DiskStall{Device: "loop0", Stacked: true, Since: since, InFlight: 1})
	if wait, err := w.gate(req("/v1.45/containers/json")); wait != 0 || err != nil {
		t.Fatalf("loop0: %v %v", wait, err)
	}
	if !strings.Contains(logs.String(), "a device made in the VM (loop or device-mapper) stopped answering") {
		t.Fatalf("loop0 not logged:\n%s", logs.String())
	}
	w.set(nil)
	w.set(nil)
	if n := strings.Count(logs.String(), "the VM's disk answers again"); n != 1 || !strings.Contains(logs.String(), "stalled_for=1m0s") {
		t.Fatalf("clear logged %d times:\n%s", n, logs.String())
	}
	if wait, err := w.gate(req("/v1.45/containers/json")); wait != 0 || err != nil {
		t.Fatalf("after the stall: %v %v", wait, err)
	}
}

// hungEngine answers /_ping and nothing else, like dockerd blocked on its
// disk; it counts the requests for path that reach it.
func hungEngine(t *testing.T, path string) (string, func() int) {
	sock := filepath.Join(t.TempDir(), "engine.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n := 0
	stuck := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == path {
			mu.Lock()
			n++
			mu.Unlock()
		}
		if r.URL.Path == "/_ping" {
			io.WriteString(w, "OK")
			return
		}
		select {
		case <-stuck:
		case <-r.Context().Done():
		}
	})}
	go srv.Serve(l)
	t.Cleanup(func() { close(stuck); srv.Close() })
	return sock, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// A stall the guest reports shows in the status, is logged once, turns the
// docker socket's requests into 503s and a stop into a forced one.
func TestDiskStallThroughTheDaemon(t *testing.T) {
	b := &recordingBackend{}
	d, c := serveDaemon(t, b)
	var logs syncbuf.Buffer
	d.o.Log = slog.New(slog.NewTextHandler(&logs, nil))
	g := startFakeGuest(t, &b.bootOnlyBackend, protocol.Ready)
	engineSock, listed := hungEngine(t, "/v1.45/containers/json")
	g.engine = engineSock
	d.dialGuest = g.dial
	if last := startAndFollow(t, c, nil); last.State != control.Running {
		t.Fatalf("the start ended on %+v", last)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil || st.DiskStall != nil {
		t.Fatalf("before the stall: %+v %v", st.DiskStall, err)
	}

	sock := d.o.Paths.DockerSocket()
	docker := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", sock)
	}}}
	get := func(path string) (int, string) {
		resp, err := docker.Get("http://docker" + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		var e protocol.ErrorBody
		b, _ := io.ReadAll(resp.Body)
		if json.Unmarshal(b, &e) == nil && e.Message != "" {
			return resp.StatusCode, e.Message
		}
		return resp.StatusCode, string(b)
	}
	// A request that went to the engine before the stall was known.
	type answer struct {
		code int
		msg  string
	}
	early := make(chan answer, 1)
	go func() {
		code, msg := get("/v1.45/containers/json")
		early <- answer{code, msg}
	}()
	for listed() == 0 {
		time.Sleep(5 * time.Millisecond)
	}

	since := time.Now().Add(-40 * time.Second)
	g.mu.Lock()
	g.stall = &protocol.DiskStall{Device: "vdb", DataDisk: true, Since: since, InFlight: 12, HungTasks: 1, HungTask: "jbd2/vdb-8:215 blocked for more than 120 seconds"}
	g.mu.Unlock()
	for range 2 {
		if st, err = c.Status(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if st.DiskStall == nil || st.DiskStall.Device != "vdb" || !st.DiskStall.Since.Equal(since) || st.Guest == nil || st.Guest.DiskStall == nil {
		t.Fatalf("status: %+v", st)
	}
	if n := strings.Count(logs.String(), "the VM's disk stopped answering"); n != 1 {
		t.Fatalf("logged %d times:\n%s", n, logs.String())
	}

	select {
	case a := <-early:
		if a.code != http.StatusServiceUnavailable || !strings.Contains(a.msg, "stopped answering") {
			t.Fatalf("the request waiting when the stall was seen: %d %q", a.code, a.msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request waiting when the stall was seen still waits")
	}
	if code, msg := get("/v1.45/containers/json"); code != http.StatusServiceUnavailable || !strings.HasPrefix(msg, "Berth: the VM's disk (vdb) stopped answering since ") || !strings.Contains(msg, "run berth restart") {
		t.Fatalf("containers/json while stalled: %d %q", code, msg)
	}
	if code, msg := get("/_ping"); code != http.StatusOK || msg != "OK" {
		t.Fatalf("ping while stalled: %d %q", code, msg)
	}
	if n := listed(); n != 1 {
		t.Fatalf("the engine was asked for the list %d times, want once (before the stall)", n)
	}

	// A stop does not wait on the guest's clean shutdown, which would hang.
	if err := c.Stop(ctx, false); err != nil {
		t.Fatal(err)
	}
	if n := g.shutdownCount(); n != 0 {
		t.Errorf("the guest was asked to shut down %d times while its disk stalled", n)
	}
	if st, _, _ := d.life.snapshot(); st != control.Stopped {
		t.Errorf("state %s after stop", st)
	}
}

// The stall clears when the guest stops reporting it, and the daemon's
// own poll (not only a status request) notices both ways.
func TestStallWatchPolls(t *testing.T) {
	var logs syncbuf.Buffer
	w := newStallWatch(slog.New(slog.NewTextHandler(&logs, nil)))
	w.every = 10 * time.Millisecond
	var mu sync.Mutex
	var report *protocol.DiskStall
	polled := make(chan struct{}, 1)
	health := func(ctx context.Context) (protocol.Health, error) {
		mu.Lock()
		defer mu.Unlock()
		select {
		case polled <- struct{}{}:
		default:
		}
		return protocol.Health{DiskStall: report}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.poll(ctx, health); close(done) }()
	defer func() { cancel(); <-done }()
	wait := func(want bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for (w.get() != nil) != want {
			select {
			case <-polled:
			case <-deadline:
				t.Fatalf("stalled=%v never seen", want)
			}
		}
	}
	mu.Lock()
	report = &protocol.DiskStall{Device: "loop0", Since: time.Now(), InFlight: 1}
	mu.Unlock()
	wait(true)
	mu.Lock()
	report = nil
	mu.Unlock()
	wait(false)
}
