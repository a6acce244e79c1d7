// Package apifilter carries docker API connections from the host's socket
// to the engine, looking only at what it must: container-create requests,
// whose bind-mount sources are host paths to vet and translate to the VM's.
// Every other request goes through as sent; responses and upgraded streams
// (attach, exec, BuildKit sessions) are copied byte for byte. A Gate may
// answer requests itself while the engine is known not to (503).
package apifilter

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berthvm/berth/netproxy/relay"
)

// Vet rewrites a container-create request body, or refuses it with an error
// written for the user.
type Vet func(body []byte) ([]byte, error)

// maxCreateBody bounds what is buffered of a create request; real ones are
// a few KiB.
const maxCreateBody = 8 << 20

// maxHeader bounds a request's line and header, as net/http's servers do
// (http.DefaultMaxHeaderBytes), with room for what the reader buffers.
const maxHeader = http.DefaultMaxHeaderBytes + 4096

var createPath = regexp.MustCompile(`^(/v[0-9]+(\.[0-9]+)*)?/containers/create$`)

// Gate is asked about each request before it goes to the engine, for
// when the engine is known not to answer. A nil error lets the request
// through as it is. An error with wait 0 refuses the request: it is
// answered 503 Service Unavailable with the error as the message, and the
// connection closes. An error with a wait lets the request through, and
// answers it so only if the engine sends nothing back within the wait.
type Gate func(req *http.Request) (wait time.Duration, err error)

// Filter carries docker API connections: Join is its relay.JoinFunc.
type Filter struct {
	Vet  Vet  // container-create requests
	Gate Gate // every request; nil lets all through
	Log  *slog.Logger

	mu    sync.Mutex
	conns map[*waits]*lockedWriter
}

// Recheck asks the Gate again about each request that is still waiting
// for the start of its answer (when the engine has just been found not to
// answer): one it refuses is answered 503 now, one it bounds within its
// wait. Answers under way, idle connections and upgraded streams are
// left alone.
func (f *Filter) Recheck() {
	if f.Gate == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for w, out := range f.conns {
		w.recheck(f.Gate, out.written())
	}
}

// Join carries one client connection to the engine's.
func (f *Filter) Join(ctx context.Context, client, up net.Conn) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		client.Close()
		up.Close()
	}()

	out := &lockedWriter{w: client}
	w := &waits{up: up}
	f.mu.Lock()
	if f.conns == nil {
		f.conns = map[*waits]*lockedWriter{}
	}
	f.conns[w] = out
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.conns, w)
		f.mu.Unlock()
	}()
	responses := make(chan struct{})
	go func() {
		_, err := io.Copy(out, up)
		if reason := w.expired(err, out.written()); reason != nil {
			unavailable(out, reason)
		}
		relay.CloseWrite(client)
		close(responses)
	}()
	if err := requests(client, up, out, f.Vet, f.Gate, w); err != nil {
		f.Log.Debug("docker API connection ended", "err", err)
		cancel()
	} else {
		relay.CloseWrite(up) // the client's EOF reaches the engine
	}
	<-responses
}

// requests reads the client's requests one by one and sends them upstream,
// until the client is done or upgrades the connection, from which point the
// bytes are copied as they are.
func requests(client io.Reader, up io.Writer, out *lockedWriter, vet Vet, gate Gate, w *waits) error {
	lim := &io.LimitedReader{R: client}
	br := bufio.NewReader(lim)
	for {
		// A header without end would otherwise grow in memory without
		// end; a body is streamed on (or bounded, for creates).
		lim.N = maxHeader
		req, err := http.ReadRequest(br)
		if errors.Is(err, io.EOF) && lim.N > 0 {
			return nil
		}
		if err != nil && lim.N == 0 {
			err = fmt.Errorf("request header larger than %d bytes", maxHeader)
			refuse(out, err)
			return err
		}
		if err != nil {
			return fmt.Errorf("reading a request: %w", err)
		}
		lim.N = math.MaxInt64
		// Only a path is judged, and sent on as judged: a target that is
		// not one ("A:0", "*") would not reach the engine as it came.
		if req.URL.Opaque != "" || !strings.HasPrefix(req.URL.Path, "/") {
			err := fmt.Errorf("request target %q is not a path", req.RequestURI)
			refuse(out, err)
			return err
		}
		if req.Method == http.MethodPost && createPath.MatchString(req.URL.Path) {
			if err := vetBody(req, vet); err != nil {
				refuse(out, err)
				return err
			}
		}
		upgrade := isUpgrade(req.Header)
		if gate != nil {
			wait, reason := gate(req)
			if reason != nil && wait <= 0 {
				unavailable(out, reason)
				return reason
			}
			w.forward(req, upgrade, wait, reason, out.written())
		}
		if err := req.Write(up); err != nil {
			return fmt.Errorf("forwarding %s %s: %w", req.Method, req.URL.Path, err)
		}
		if upgrade {
			_, err := io.Copy(up, br) // what is buffered, then the rest
			return err
		}
	}
}

func vetBody(req *http.Request, vet Vet) error {
	body, err := io.ReadAll(io.LimitReader(req.Body, maxCreateBody+1))
	req.Body.Close()
	if err != nil {
		return fmt.Errorf("reading the container create request: %w", err)
	}
	if len(body) > maxCreateBody {
		return fmt.Errorf("container create request larger than %d bytes", maxCreateBody)
	}
	body, err = vet(body)
	if err != nil {
		return err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.TransferEncoding = nil
	req.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

// refuse answers a request the filter will not pass on (400).
func refuse(w io.Writer, reason error) { answerError(w, "400 Bad Request", reason) }

// unavailable answers a request that the engine cannot answer now (503).
func unavailable(w io.Writer, reason error) { answerError(w, "503 Service Unavailable", reason) }

// answerError answers the way the engine reports errors, so the CLI prints
// "Error response from daemon: <message>". The connection closes after it:
// nothing else is in flight on it (docker clients do not pipeline).
func answerError(w io.Writer, status string, reason error) {
	body, _ := json.Marshal(map[string]string{"message": reason.Error()})
	fmt.Fprintf(w, "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", status, len(body), body)
}

// waits bounds the wait for the answer to a request let through by a Gate
// with a wait: a read deadline on the engine's side of the connection.
// Docker clients do not pipeline, so the next request comes after the
// answer, and clears the deadline when its own gate sets none.
type waits struct {
	up net.Conn

	mu       sync.Mutex
	req      *http.Request // the last request forwarded
	upgraded bool
	at       int64 // response bytes written before it went out
	armed    bool
	reason   error
}

// forward records a request about to go to the engine and what the gate
// said of it.
func (w *waits) forward(req *http.Request, upgrade bool, wait time.Duration, reason error, written int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.req, w.upgraded, w.at = req, upgrade, written
	switch {
	case wait > 0 && reason != nil:
		w.armed, w.reason = true, reason
		w.up.SetReadDeadline(time.Now().Add(wait)) //nolint:errcheck // a conn without deadlines just waits
	case w.armed:
		w.armed, w.reason = false, nil
		w.up.SetReadDeadline(time.Time{}) //nolint:errcheck // as above
	}
}

// recheck asks gate again about the last request if nothing of its answer
// has come (written is what the client got so far).
func (w *waits) recheck(gate Gate, written int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.req == nil || w.upgraded || written != w.at {
		return
	}
	wait, reason := gate(w.req)
	if reason == nil {
		return
	}
	w.armed, w.reason = true, reason
	w.up.SetReadDeadline(time.Now().Add(max(wait, 0))) //nolint:errcheck // a conn without deadlines just waits
}

// expired returns the reason to answer with when the response copy ended
// because the engine did not answer an armed request in time.
func (w *waits) expired(err error, written int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var ne net.Error
	if !w.armed || !errors.As(err, &ne) || !ne.Timeout() || written != w.at {
		return nil
	}
	return w.reason
}

func isUpgrade(h http.Header) bool {
	for _, v := range h.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// lockedWriter keeps a refusal from interleaving with a response's bytes,
// and counts what was written.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
	n  int64
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.w.Write(p)
	l.n += int64(n)
	return n, err
}

func (l *lockedWriter) written() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}
