package apifilter

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// wedgedEngine answers /_ping at once, never answers /version or
// /containers/json (its disk stopped answering), and streams
// /containers/x/logs slowly. It counts the requests that reach it.
func wedgedEngine(t *testing.T, seen *atomic.Int32) string {
	sock := filepath.Join(t.TempDir(), "engine.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stuck := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		switch {
		case strings.HasSuffix(r.URL.Path, "/_ping"):
			io.WriteString(w, "OK")
		case strings.HasSuffix(r.URL.Path, "/logs"):
			for i := range 3 {
				fmt.Fprintf(w, "line %d\n", i)
				w.(http.Flusher).Flush()
				time.Sleep(150 * time.Millisecond)
			}
		default:
			select {
			case <-stuck:
			case <-r.Context().Done():
			}
		}
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { close(stuck); srv.Close() })
	return sock
}

// stallGate is the daemon's gate in small: while stalled, /_ping and
// /version go through with a short wait and the rest is refused.
func stallGate(stalled *atomic.Bool) Gate {
	reason := errors.New("Berth: the VM's disk stopped answering since 06:12:03; run berth restart")
	return func(req *http.Request) (time.Duration, error) {
		if !stalled.Load() {
			return 0, nil
		}
		if strings.HasSuffix(req.URL.Path, "/_ping") || strings.HasSuffix(req.URL.Path, "/version") {
			return 100 * time.Millisecond, reason
		}
		return 0, reason
	}
}

func TestGateAnswers503WhileStalled(t *testing.T) {
	var seen atomic.Int32
	var stalled atomic.Bool
	stalled.Store(true)
	sock, _ := gatedProxy(t, wedgedEngine(t, &seen), nil, stallGate(&stalled))
	c := client(sock)
	c.Timeout = 5 * time.Second
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := c.Get("http://docker" + path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	want := `{"message":"Berth: the VM's disk stopped answering since 06:12:03; run berth restart"}`

	// Refused at once, without reaching the engine.
	began := time.Now()
	if code, body := get("/v1.45/containers/json"); code != http.StatusServiceUnavailable || body != want {
		t.Fatalf("containers/json: %d %s", code, body)
	}
	if d := time.Since(began); d > time.Second || seen.Load() != 0 {
		t.Fatalf("refusal took %v; the engine saw %d requests", d, seen.Load())
	}
	// /_ping still reaches the engine, which answers it.
	if code, body := get("/_ping"); code != http.StatusOK || body != "OK" {
		t.Fatalf("ping: %d %s", code, body)
	}
	// /version reaches it too, and is answered 503 when it does not answer in time.
	began = time.Now()
	if code, body := get("/v1.45/version"); code != http.StatusServiceUnavailable || body != want {
		t.Fatalf("version: %d %s", code, body)
	}
	if d := time.Since(began); d < 100*time.Millisecond || d > 2*time.Second {
		t.Fatalf("version answered after %v", d)
	}
	if n := seen.Load(); n != 2 {
		t.Fatalf("the engine saw %d requests, want 2 (ping, version)", n)
	}
}

// A ping while stalled bounds the wait on its connection; once the disk
// answers again, a slow stream on the same connection is not cut.
func TestGateClearsItsWait(t *testing.T) {
	var seen atomic.Int32
	var stalled atomic.Bool
	stalled.Store(true)
	sock, _ := gatedProxy(t, wedgedEngine(t, &seen), nil, stallGate(&stalled))
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := newResponses(conn)
	io.WriteString(conn, "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
	if code, body := br.next(t); code != http.StatusOK || body != "OK" {
		t.Fatalf("ping: %d %q", code, body)
	}
	stalled.Store(false)
	io.WriteString(conn, "GET /containers/x/logs?follow=1 HTTP/1.1\r\nHost: docker\r\n\r\n")
	if code, body := br.next(t); code != http.StatusOK || body != "line 0\nline 1\nline 2\n" {
		t.Fatalf("logs: %d %q", code, body)
	}
}

// A request that went to the engine before the stall was known, and is
// still waiting, is answered 503 once it is; a response under way and a
// connection that waits for nothing are left alone.
func TestRecheckAnswersWaitingRequests(t *testing.T) {
	var seen atomic.Int32
	var stalled atomic.Bool
	sock, f := gatedProxy(t, wedgedEngine(t, &seen), nil, stallGate(&stalled))
	dial := func() (net.Conn, *responses) {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn, newResponses(conn)
	}
	waiting, waitingR := dial()
	io.WriteString(waiting, "DELETE /v1.45/containers/x?force=1 HTTP/1.1\r\nHost: docker\r\n\r\n")
	streaming, streamingR := dial()
	io.WriteString(streaming, "GET /containers/x/logs?follow=1 HTTP/1.1\r\nHost: docker\r\n\r\n")
	idle, idleR := dial()
	io.WriteString(idle, "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
	if code, body := idleR.next(t); code != http.StatusOK || body != "OK" {
		t.Fatalf("ping: %d %q", code, body)
	}
	for seen.Load() < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the log's first line is on its way

	stalled.Store(true)
	f.Recheck()
	began := time.Now()
	if code, body := waitingR.next(t); code != http.StatusServiceUnavailable || !strings.Contains(body, "stopped answering") {
		t.Fatalf("the waiting request: %d %q", code, body)
	}
	if d := time.Since(began); d > time.Second {
		t.Fatalf("answered after %v", d)
	}
	if code, body := streamingR.next(t); code != http.StatusOK || body != "line 0\nline 1\nline 2\n" {
		t.Fatalf("the stream under way: %d %q", code, body)
	}
	stalled.Store(false)
	io.WriteString(idle, "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
	if code, body := idleR.next(t); code != http.StatusOK || body != "OK" {
		t.Fatalf("the idle connection after: %d %q", code, body)
	}
}

// responses reads the responses on one connection in turn.
type responses struct {
	conn net.Conn
	br   *bufio.Reader
}

func newResponses(conn net.Conn) *responses { return &responses{conn: conn, br: bufio.NewReader(conn)} }

func (r *responses) next(t *testing.T) (int, string) {
	t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(r.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// The refusal is JSON with the engine's error shape, which the docker CLI
// prints as "Error response from daemon: <message>".
func TestUnavailableShape(t *testing.T) {
	var b strings.Builder
	unavailable(&b, errors.New(`say "hi"`))
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(b.String())), nil)
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Message string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 503 || body.Message != `say "hi"` || !resp.Close {
		t.Fatalf("%d %+v %v close=%v", resp.StatusCode, body, err, resp.Close)
	}
}
