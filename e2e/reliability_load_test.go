//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthvm/berth/app/control"
)

// The load the issue asks of the docker socket; BERTH_LOAD_CALLS shrinks the
// sequential part for a quick run.
const (
	loadSequentialCalls = 1000
	loadConcurrent      = 50
	loadPublished       = 20
)

// apiClient speaks the docker API on Berth's socket, one request at a time
// per call, as SDKs do; every failure is counted, none stops the run.
type apiClient struct {
	t      *testing.T
	http   *http.Client
	tr     *http.Transport
	calls  atomic.Int64
	errors atomic.Int64
	mu     sync.Mutex
	first  []string // the first failures, for the log
}

func newAPIClient(t *testing.T, sock string) *apiClient {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		MaxIdleConnsPerHost: loadConcurrent,
	}
	return &apiClient{t: t, tr: tr, http: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}
}

func (c *apiClient) fail(what string, err error) {
	c.errors.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.first) < 10 {
		c.first = append(c.first, fmt.Sprintf("%s: %v", what, err))
	}
}

// do makes one API call and returns its body; out, if not nil, receives
// the JSON answer. A streamed call (upgrade) reads the stream to its end.
func (c *apiClient) do(method, path string, in, out any, upgrade bool) ([]byte, bool) {
	c.calls.Add(1)
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://docker"+path, body)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if upgrade {
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "tcp")
	}
	what := method + " " + path
	resp, err := c.http.Do(req)
	if err != nil {
		c.fail(what, err)
		return nil, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		c.fail(what, err)
		return nil, false
	case resp.StatusCode >= 300 && resp.StatusCode != http.StatusSwitchingProtocols:
		c.fail(what, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b)))
		return nil, false
	case out != nil:
		if err := json.Unmarshal(b, out); err != nil {
			c.fail(what, err)
			return nil, false
		}
	}
	return b, true
}

// round makes the calls of one user's round: list, inspect and logs of the
// long-lived container; with exec, a streamed exec in it; with life, a
// container created, started and removed. Under emulation an exec takes
// seconds and a container's life tens of them, a list well under one.
func (c *apiClient) round(target string, exec, life bool) {
	c.do("GET", "/containers/json", nil, &[]map[string]any{}, false)
	c.do("GET", "/containers/"+target+"/json", nil, &map[string]any{}, false)
	if b, ok := c.do("GET", "/containers/"+target+"/logs?stdout=1&tail=5", nil, nil, false); ok && !bytes.Contains(b, []byte("ready")) {
		c.fail("logs", fmt.Errorf("no line %q in %q", "ready", b))
	}
	if exec {
		c.exec(target)
	}
	if life {
		c.life()
	}
}

// exec runs echo in the container, its output streamed back.
func (c *apiClient) exec(target string) {
	var ex struct{ Id string }
	if _, ok := c.do("POST", "/containers/"+target+"/exec", map[string]any{
		"AttachStdout": true, "AttachStderr": true, "Cmd": []string{"echo", "exec-ok"},
	}, &ex, false); ok {
		if b, ok := c.do("POST", "/exec/"+ex.Id+"/start", map[string]any{"Detach": false, "Tty": false}, nil, true); ok && !bytes.Contains(b, []byte("exec-ok")) {
			c.fail("exec", fmt.Errorf("stream %q lacks the command's output", b))
		}
	}
}

// life creates, starts and removes a container.
func (c *apiClient) life() {
	var created struct{ Id string }
	if _, ok := c.do("POST", "/containers/create", map[string]any{"Image": testImage, "Cmd": []string{"true"}}, &created, false); ok {
		c.do("POST", "/containers/"+created.Id+"/start", nil, nil, false)
		c.do("DELETE", "/containers/"+created.Id+"?force=1", nil, nil, false)
	}
}

// settledCounts waits for the daemon's goroutines and open files to come
// back to at most want (connections close asynchronously), or with no want
// to stay the same for 3 s, and returns the last counts seen.
func settledCounts(t *testing.T, c *control.Client, want *control.Counts) control.Counts {
	var n, prev control.Counts
	same := 0
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		var err error
		if n, err = c.Counts(context.Background()); err != nil {
			t.Fatalf("daemon counts: %v", err)
		}
		if n == prev {
			same++
		} else {
			same = 0
		}
		prev = n
		settled := want == nil && same == 6 || want != nil && n.Goroutines <= want.Goroutines && n.OpenFiles <= want.OpenFiles
		if settled || time.Now().After(deadline) {
			return n
		}
	}
}

// Load through the docker socket: 1,000 sequential and 50 concurrent API
// calls (list, inspect, logs, streamed exec, create/start/rm) with no
// errors and the daemon's goroutines and file descriptors back where they
// were; then 20 `docker run -p` at once, all forwarded, all released.
func TestReliabilityLoad(t *testing.T) {
	t.Parallel()
	e := newBerthEnv(t)
	image := buildBusybox(t)
	e.berth("start", "--cpus", "2", "--memory", "2", "--disk", "16")
	st := e.status()
	ctl := control.NewClient(filepath.Join(e.home, "run", "berth.sock"))
	e.docker("load", "-i", image)
	target := e.docker("run", "-d", "--name", "target", testImage, "sh", "-c", "echo ready; exec sleep 3600")

	api := newAPIClient(t, st.DockerSocket)
	api.round(target, true, true) // the first use of each path starts what stays
	api.tr.CloseIdleConnections()
	before := settledCounts(t, ctl, nil)
	api.calls.Store(0)
	api.errors.Store(0)

	sequential := loadSequentialCalls
	if n, err := strconv.Atoi(os.Getenv("BERTH_LOAD_CALLS")); err == nil && n > 0 {
		sequential = n
	}
	start := time.Now()
	for i, next := 0, int64(100); api.calls.Load() < int64(sequential); i++ {
		api.round(target, i%10 == 0, i%20 == 0)
		if n := api.calls.Load(); n >= next {
			t.Logf("LOAD sequential: %d calls, %.1fs, %d errors", n, time.Since(start).Seconds(), api.errors.Load())
			next += 100
		}
	}
	seqTime, seqCalls, seqErrs := time.Since(start), api.calls.Load(), api.errors.Load()
	t.Logf("LOAD sequential: %d calls in %.1fs (%.1f ms/call), %d errors", seqCalls, seqTime.Seconds(),
		float64(seqTime.Milliseconds())/float64(seqCalls), seqErrs)

	start = time.Now()
	var wg sync.WaitGroup
	for i := 0; i < loadConcurrent; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			api.round(target, i%5 == 0, i%10 == 0)
		}(i)
	}
	wg.Wait()
	conTime, conCalls, conErrs := time.Since(start), api.calls.Load()-seqCalls, api.errors.Load()-seqErrs
	t.Logf("LOAD concurrent: %d clients, %d calls in %.1fs, %d errors", loadConcurrent, conCalls, conTime.Seconds(), conErrs)

	pid := e.status().DaemonPid
	for _, sock := range []string{st.DockerSocket, filepath.Join(e.home, "run", "berth.sock")} {
		sent := sendHostile(t, sock)
		if now := e.status(); now.DaemonPid != pid || now.State != control.Running {
			t.Fatalf("after %d malformed requests on %s the daemon is pid %d (was %d), %s", sent, sock, now.DaemonPid, pid, now.State)
		}
		t.Logf("LOAD hostile: %d malformed requests on %s, daemon pid %d still running", sent, filepath.Base(sock), pid)
	}
	api.round(target, false, false) // and still serves

	api.tr.CloseIdleConnections()
	after := settledCounts(t, ctl, &before)
	t.Logf("LOAD daemon: goroutines %d before, %d after; open files %d before, %d after",
		before.Goroutines, after.Goroutines, before.OpenFiles, after.OpenFiles)
	if api.errors.Load() > 0 {
		t.Errorf("%d of %d calls failed; first: %q", api.errors.Load(), api.calls.Load(), api.first)
	}
	if after.Goroutines > before.Goroutines || after.OpenFiles > before.OpenFiles {
		t.Errorf("the daemon leaked: goroutines %d -> %d, open files %d -> %d",
			before.Goroutines, after.Goroutines, before.OpenFiles, after.OpenFiles)
	}
	if left := e.docker("ps", "-aq", "--filter", "ancestor="+testImage); len(strings.Fields(left)) != 1 {
		t.Errorf("containers left behind by the load: %q", left)
	}

	publishConcurrently(t, e, ctl, before)
}

// publishConcurrently runs loadPublished containers at once, each with a
// port of its own, checks each answers on it from the host, removes them,
// and checks every port is free again and the daemon holds no more than
// before.
func publishConcurrently(t *testing.T, e *berthEnv, ctl *control.Client, before control.Counts) {
	// Distinct free ports: all held open until all are picked.
	ports := make([]int, loadPublished)
	names := make([]string, loadPublished)
	var picked []net.Listener
	for i := range ports {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		picked = append(picked, l)
		ports[i], names[i] = l.Addr().(*net.TCPAddr).Port, fmt.Sprintf("pub%d", i)
	}
	for _, l := range picked {
		l.Close()
	}
	runErrs := make([]error, len(ports))
	var wg sync.WaitGroup
	start := time.Now()
	for i, port := range ports {
		wg.Add(1)
		go func(i, port int) {
			defer wg.Done()
			out, err := e.dockerErr("run", "-d", "--name", names[i], "-p", fmt.Sprintf("%d:80", port), "berth/welcome")
			if err != nil {
				runErrs[i] = fmt.Errorf("%v: %s", err, out)
			}
		}(i, port)
	}
	wg.Wait()
	for i, err := range runErrs {
		if err != nil {
			t.Errorf("docker run -p %d: %v", ports[i], err)
		}
	}
	forwarded := 0
	for _, port := range ports {
		url := fmt.Sprintf("http://127.0.0.1:%d/", port)
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
			if code, err := httpStatus(url); err == nil && code == 200 {
				forwarded++
				break
			} else if time.Now().After(deadline) {
				t.Errorf("GET %s: %d %v", url, code, err)
				break
			}
		}
	}
	t.Logf("LOAD publish: %d concurrent `docker run -p`, %d of %d ports answered, in %.1fs",
		len(ports), forwarded, len(ports), time.Since(start).Seconds())

	e.docker(append([]string{"rm", "-f"}, names...)...)
	released := 0
	for _, port := range ports {
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if _, err := waitPort(addr, false, time.Minute); err != nil {
			t.Errorf("after rm: %v", err)
			continue
		}
		// Released means the host may listen there again.
		if l, err := net.Listen("tcp4", addr); err != nil {
			t.Errorf("port %d not released: %v", port, err)
		} else {
			l.Close()
			released++
		}
	}
	after := settledCounts(t, ctl, &before)
	t.Logf("LOAD publish: %d of %d ports released after rm; daemon goroutines %d, open files %d (before the load: %d, %d)",
		released, len(ports), after.Goroutines, after.OpenFiles, before.Goroutines, before.OpenFiles)
	if after.Goroutines > before.Goroutines || after.OpenFiles > before.OpenFiles {
		t.Errorf("the daemon holds more after the published containers went: goroutines %d -> %d, open files %d -> %d",
			before.Goroutines, after.Goroutines, before.OpenFiles, after.OpenFiles)
	}
}

// sendHostile writes malformed requests to a socket, one connection each,
// reads what comes back until the daemon closes or a second passes, and
// returns how many it sent.
func sendHostile(t *testing.T, sock string) int {
	payloads := []string{
		"\x00\x01\x02\xff\xfe\r\n\r\n",
		"GET / HTTP/9.9\r\n\r\n",
		"GET /_ping HTTP/1.1\r\nHost: d\r\nX: " + strings.Repeat("a", 2<<20) + "\r\n\r\n",
		"POST /containers/create HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 20\r\n\r\n{\"HostConfig\":{\"Bi",
		"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 9000000\r\n\r\n" + strings.Repeat("{", 9000000),
		"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 12\r\n\r\n{\"HostConfig\"",
		"POST /v1/stop HTTP/1.1\r\nHost: b\r\nContent-Length: 7\r\n\r\n{\"force",
		"POST /v1/start HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\n\r\n[[[",
		"GET /v1/events HTTP/1.1\r\nHost: b\r\n\r\n",
		"POST /v1/shell?rows=-1&cols=99999999999&tty=1 HTTP/1.1\r\nHost: b\r\nConnection: Upgrade\r\nUpgrade: nope\r\n\r\n",
		"POST /exec/nonexistent/start HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 2\r\n\r\n{}garbage",
		"GET /_ping HTTP/1.1\r\nHost: d\r\nContent-Length: -1\r\n\r\n",
		"GET /_ping HTTP/1.1\r\nHost: d\r\n",
	}
	rnd := rand.New(rand.NewPCG(17, 17))
	for i := 0; i < 50; i++ {
		b := make([]byte, rnd.IntN(4096))
		for j := range b {
			b[j] = byte(rnd.UintN(256))
		}
		payloads = append(payloads, string(b))
	}
	for _, p := range payloads {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatalf("dial %s: %v", sock, err)
		}
		c.SetDeadline(time.Now().Add(time.Second))
		go io.WriteString(c, p) // the daemon may stop reading early
		io.Copy(io.Discard, c)
		c.Close()
	}
	return len(payloads)
}
