package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"testing"

	"github.com/berthvm/berth/app/control"
)

// Any request the control socket's HTTP server would hand on gets an
// answer and leaves the machine in a settled state; none crashes the
// daemon. Starts fail at once (the settings ask for no CPUs), so every
// call runs to its end without a VM.
func FuzzControlAPI(f *testing.F) {
	for _, s := range []string{
		"GET /v1/status HTTP/1.1\r\nHost: berth\r\n\r\n",
		"POST /v1/start HTTP/1.1\r\nHost: berth\r\n\r\n",
		"POST /v1/stop HTTP/1.1\r\nHost: berth\r\nContent-Length: 14\r\n\r\n{\"force\":true}",
		"POST /v1/stop HTTP/1.1\r\nHost: berth\r\nContent-Length: 7\r\n\r\n{\"force",
		"POST /v1/stop HTTP/1.1\r\nHost: berth\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n0\r\n\r\n",
		"POST /v1/delete HTTP/1.1\r\nHost: berth\r\n\r\n",
		"GET /v1/stats HTTP/1.1\r\nHost: berth\r\n\r\n",
		"POST /v1/shell?cmd=ls&tty=1&rows=x HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: berth-shell\r\n\r\n",
		"GET /v1/events HTTP/1.1\r\nHost: berth\r\n\r\n",
		"GET /v1/debug/counts HTTP/1.1\r\nHost: berth\r\n\r\n",
		"GET /../v1/status HTTP/1.0\r\n\r\n",
		"DELETE /v1/start HTTP/1.1\r\nHost: berth\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	d := newTestDaemon(f, &bootOnlyBackend{})
	if err := os.WriteFile(d.o.Paths.File(), []byte(`{"cpus": 0}`), 0o600); err != nil {
		f.Fatal(err)
	}
	h := d.handler()
	done, cancel := context.WithCancel(context.Background())
	cancel() // ends the event stream after what is ready
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return // net/http answers 400 itself
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req.WithContext(done))
		if w.Code == 0 {
			t.Fatalf("no answer to %q", raw)
		}
		st := d.Status(context.Background())
		if !st.State.Settled() {
			t.Fatalf("after %q the machine is %s", raw, st.State)
		}
		if req.URL.Path == "/v1/status" && req.Method == http.MethodGet {
			var got control.Status
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("status answer %q: %v", w.Body, err)
			}
		}
	})
}

// A stop whose body is not JSON is refused, saying why, and stops nothing;
// the debug counts answer.
func TestControlAPIBodies(t *testing.T) {
	d, c := serveDaemon(t, &bootOnlyBackend{})
	h := d.handler()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/stop", bytes.NewReader([]byte(`{"force`))))
	if w.Code != http.StatusBadRequest || !bytes.Contains(w.Body.Bytes(), []byte("/v1/stop: the body is not the JSON")) {
		t.Errorf("malformed stop: %d %s", w.Code, w.Body)
	}
	n, err := c.Counts(context.Background())
	if err != nil || n.Goroutines < 2 || (n.OpenFiles < 3 && runtime.GOOS != "windows") {
		t.Errorf("counts %+v, %v", n, err)
	}
}
