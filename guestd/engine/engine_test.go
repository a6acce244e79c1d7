//go:build linux

package engine

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeEngine answers the few dockerd endpoints guestd uses, on a unix socket.
type fakeEngine struct {
	mu      sync.Mutex
	loads   []string
	loadErr string
}

func (f *fakeEngine) serve(t *testing.T) string {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") })
	mux.HandleFunc("POST /images/load", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.loads = append(f.loads, string(b))
		f.mu.Unlock()
		if f.loadErr != "" {
			io.WriteString(w, `{"errorDetail":{"message":"x"},"error":"`+f.loadErr+`"}`)
			return
		}
		io.WriteString(w, `{"stream":"Loaded image: berth/welcome:latest\n"}`)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func TestPreloadOncePerDataDisk(t *testing.T) {
	f := &fakeEngine{}
	c := NewClient(f.serve(t))
	ctx := context.Background()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	images, state := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(images, "welcome.tar"), []byte("TAR"), 0o644)
	loaded, err := c.Preload(ctx, images, state)
	if err != nil || len(loaded) != 1 || len(f.loads) != 1 || f.loads[0] != "TAR" {
		t.Fatalf("first preload: %v, %v, engine saw %q", loaded, err, f.loads)
	}
	loaded, err = c.Preload(ctx, images, state)
	if err != nil || len(loaded) != 0 || len(f.loads) != 1 {
		t.Fatalf("second preload loaded again: %v, %v", loaded, err)
	}
}

func TestPreloadReportsStreamedError(t *testing.T) {
	f := &fakeEngine{loadErr: "no space left on device"}
	c := NewClient(f.serve(t))
	images, state := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(images, "welcome.tar"), []byte("TAR"), 0o644)
	_, err := c.Preload(context.Background(), images, state)
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("err = %v, want the engine's message", err)
	}
	// Not marked: the next boot tries again.
	if m, _ := filepath.Glob(filepath.Join(state, "preloaded-*")); len(m) != 0 {
		t.Fatalf("failed load was marked done: %v", m)
	}
}

func TestDockerdCommandListensOnBothSockets(t *testing.T) {
	args := strings.Join(DockerdCommand("192.168.127.2:2375", netip.MustParseAddr("192.168.127.254"), 65520, 25, 7).Args, " ")
	for _, want := range []string{"-H unix:///var/run/docker.sock", "-H tcp://192.168.127.2:2375", "--tls=false", "--containerd=/run/containerd/containerd.sock", "--host-gateway-ip=192.168.127.254", "--mtu=65520",
		"--log-opt max-size=25m", "--log-opt max-file=7"} {
		if !strings.Contains(args, want) {
			t.Errorf("dockerd args %q lack %q", args, want)
		}
	}
}

func TestLogBytesCountsOnlyLogs(t *testing.T) {
	dir := t.TempDir()
	if n, err := LogBytes(filepath.Join(dir, "containers")); err != nil || n != 0 {
		t.Fatalf("no containers directory yet: %d, %v", n, err)
	}
	write := func(rel string, size int) {
		p := filepath.Join(dir, "containers", rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, bytes.Repeat([]byte{'x'}, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("abc/abc-json.log", 8192)
	write("abc/abc-json.log.1", 4096)
	write("abc/config.v2.json", 65536) // state, not a log
	write("abc/mounts/secret", 65536)  // not a log
	write("def/local-logs/container.log", 4096)
	write("def/def-json.log.swp", 0)
	write("def/abc-json.log", 65536) // another container's name: not its log
	n, err := LogBytes(filepath.Join(dir, "containers"))
	if err != nil {
		t.Fatal(err)
	}
	// Allocated blocks: 8 KiB + 4 KiB + 4 KiB (and 0 for the empty file).
	if n != 16384 {
		t.Fatalf("log bytes %d, want 16384", n)
	}
}
