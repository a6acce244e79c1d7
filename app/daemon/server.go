package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/app/settings"
	"github.com/berthvm/berth/guestd/protocol"
)

// ErrRunning means another daemon holds the lock.
var ErrRunning = errors.New("a berth daemon is already running")

// Lock takes the daemon lock for the run directory, so that two daemons never
// drive one machine. The lock dies with the process, so a crashed daemon
// leaves nothing to clean up but a stale socket, which Serve replaces.
func Lock(p settings.Paths) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(p.Run, "daemon.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, ErrRunning) {
			return nil, err
		}
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if _, err := fmt.Fprintf(f, "%d\n", os.Getpid()); err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", f.Name(), err)
	}
	return f, nil
}

// Serve answers the control API on the control socket until ctx ends, then
// stops the machine cleanly.
func (d *Daemon) Serve(ctx context.Context) error {
	l, err := listenUnix(d.o.Paths.ControlSocket())
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: d.handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	d.o.Log.Info("daemon stopping")
	if state, _, _ := d.life.snapshot(); state != control.Stopped {
		sctx, cancel := context.WithTimeout(context.Background(), stopTimeout+30*time.Second)
		if err := d.Stop(sctx, false); err != nil {
			d.o.Log.Warn("stop on exit", "err", err)
		}
		cancel()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		d.o.Log.Warn("control API: clients still connected at exit", "err", err)
	}
	os.Remove(d.o.Paths.ControlSocket())
	return nil
}

func (d *Daemon) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		protocol.WriteJSON(w, http.StatusOK, d.Status(r.Context()))
	})
	mux.HandleFunc("POST /v1/start", func(w http.ResponseWriter, r *http.Request) {
		if err := d.Start(r.Context()); err != nil {
			protocol.WriteError(w, http.StatusConflict, err)
			return
		}
		protocol.WriteJSON(w, http.StatusAccepted, struct{}{})
	})
	mux.HandleFunc("POST /v1/stop", func(w http.ResponseWriter, r *http.Request) {
		var req control.StopRequest
		if err := decodeBody(r, &req); err != nil {
			protocol.WriteError(w, http.StatusBadRequest, err)
			return
		}
		if err := d.Stop(r.Context(), req.Force); err != nil {
			protocol.WriteError(w, http.StatusConflict, err)
			return
		}
		protocol.WriteJSON(w, http.StatusOK, struct{}{})
	})
	mux.HandleFunc("POST /v1/delete", func(w http.ResponseWriter, r *http.Request) {
		if err := d.Delete(r.Context()); err != nil {
			protocol.WriteError(w, http.StatusConflict, err)
			return
		}
		protocol.WriteJSON(w, http.StatusOK, struct{}{})
	})
	mux.HandleFunc("GET /v1/stats", func(w http.ResponseWriter, r *http.Request) {
		run := d.running()
		if run == nil {
			protocol.WriteError(w, http.StatusConflict, errNotRunning)
			return
		}
		st, err := run.guest.Stats(r.Context())
		if err != nil {
			protocol.WriteError(w, http.StatusBadGateway, err)
			return
		}
		protocol.WriteJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("GET /v1/disk", d.serveDiskUse)
	mux.HandleFunc("POST /v1/reclaim", d.serveReclaim)
	// The debug shell is the guest API's, proxied: the upgraded connection
	// is joined byte for byte.
	mux.HandleFunc("POST /v1/shell", func(w http.ResponseWriter, r *http.Request) {
		run := d.running()
		if run == nil {
			protocol.WriteError(w, http.StatusConflict, errNotRunning)
			return
		}
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(&url.URL{Scheme: "http", Host: run.guestAPI}) },
			Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return run.dial(ctx, protocol.APIPort)
			}},
		}
		proxy.ServeHTTP(w, r)
	})
	// Counts taken in the process: goroutines cannot be counted from
	// outside without stopping it (SIGQUIT) or serving pprof, and the
	// socket is as private as the rest of the API.
	mux.HandleFunc("GET /v1/debug/counts", func(w http.ResponseWriter, r *http.Request) {
		protocol.WriteJSON(w, http.StatusOK, control.Counts{Goroutines: runtime.NumGoroutine(), OpenFiles: openFiles()})
	})
	mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		events, cancel := d.life.subscribe()
		defer cancel()
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		flusher, _ := w.(http.Flusher)
		enc := json.NewEncoder(w)
		for {
			select {
			case <-events.Ready():
				for _, e := range events.Take() {
					if err := enc.Encode(e); err != nil {
						return
					}
				}
				if flusher != nil {
					flusher.Flush()
				}
			case <-r.Context().Done():
				return
			}
		}
	})
	return mux
}

var errNotRunning = errors.New("Berth is not running")

// maxRequestBody bounds a control request's body: real ones are a few bytes.
const maxRequestBody = 64 << 10

// decodeBody reads a request's JSON body into v; an empty body leaves v
// as it is.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxRequestBody))
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s %s: the body is not the JSON this call takes: %w", r.Method, r.URL.Path, err)
	}
	return nil
}

// openFiles counts the process's file descriptors, or -1 where the OS
// does not list them.
func openFiles() int {
	for _, dir := range []string{"/proc/self/fd", "/dev/fd"} {
		if fds, err := os.ReadDir(dir); err == nil {
			return len(fds) - 1 // less the one listing them
		}
	}
	return -1
}

// running returns the session of a running machine, or nil.
func (d *Daemon) running() *session {
	d.mu.Lock()
	run := d.run
	d.mu.Unlock()
	if state, _, _ := d.life.snapshot(); state != control.Running {
		return nil
	}
	return run
}
