// Package api is the guest API: HTTP/JSON served by guestd on eth0 for the
// host only. It reports boot progress, health and resource use, and takes
// shutdown requests. The host side uses Client.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/berthvm/berth/guestd/datadisk"
	"github.com/berthvm/berth/guestd/stats"
	"github.com/berthvm/berth/guestd/supervise"
	"github.com/berthvm/berth/guestd/tunnel"
)

// State is the guest's overall state.
type State string

const (
	Booting      State = "booting"
	Ready        State = "ready"         // the engine answers
	Failed       State = "error"         // boot cannot go on; Health.Error says why
	ShuttingDown State = "shutting-down" // containers and engine are stopping
)

// Versions of what runs in the guest.
type Versions struct {
	Guestd     string `json:"guestd"`
	Kernel     string `json:"kernel"`
	Docker     string `json:"docker,omitempty"`
	DockerAPI  string `json:"docker_api,omitempty"`
	Containerd string `json:"containerd,omitempty"`
}

// Step is a boot milestone, in seconds since the kernel started.
type Step struct {
	Name string  `json:"name"`
	At   float64 `json:"at"`
}

// Health is GET /v1/health.
type Health struct {
	State    State              `json:"state"`
	Error    string             `json:"error,omitempty"`
	Problems []string           `json:"problems,omitempty"` // trouble that does not stop the boot
	Uptime   float64            `json:"uptime"`             // seconds since the kernel started
	Boot     []Step             `json:"boot"`
	Versions Versions           `json:"versions"`
	Services []supervise.Status `json:"services,omitempty"`
	DataDisk *datadisk.Report   `json:"data_disk,omitempty"`
}

// ShutdownRequest is the body of POST /v1/shutdown.
type ShutdownRequest struct {
	Reboot bool `json:"reboot"`
}

// Server answers the API from guestd's state.
type Server struct {
	Health   func() Health
	Stats    func() (stats.Stats, error)
	Shutdown func(reboot bool)
	// Shell serves POST /v1/shell, an HTTP upgrade to a raw byte stream
	// with a shell (or ?cmd=… ) in the guest; ?tty=1&rows=&cols= for a pty.
	Shell http.HandlerFunc
	// Dial serves POST /v1/dial (package tunnel): an HTTP upgrade to a
	// connection to a port on the guest's loopback, for port forwarding.
	Dial http.HandlerFunc
}

// ShellProtocol is the Upgrade token of /v1/shell.
const ShellProtocol = "berth-shell"

// FatalMarker starts the console line guestd writes when the guest cannot
// boot, before or without its API; the host watches the console for it.
const FatalMarker = "berth guest failed to boot: "

// Handler routes the API.
func (s Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Health())
	})
	mux.HandleFunc("GET /v1/stats", func(w http.ResponseWriter, r *http.Request) {
		st, err := s.Stats()
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, errorBody{err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("POST /v1/shutdown", func(w http.ResponseWriter, r *http.Request) {
		var req ShutdownRequest
		if r.ContentLength != 0 {
			if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
				writeJSON(w, http.StatusBadRequest, errorBody{"bad shutdown request: " + err.Error()})
				return
			}
		}
		// Answer first: the shutdown ends with this server.
		writeJSON(w, http.StatusAccepted, struct{}{})
		go s.Shutdown(req.Reboot)
	})
	if s.Shell != nil {
		mux.HandleFunc("POST /v1/shell", s.Shell)
	}
	if s.Dial != nil {
		mux.HandleFunc("POST "+tunnel.Path, s.Dial)
	}
	return mux
}

type errorBody struct {
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// Client calls the guest API.
type Client struct {
	base string
	http *http.Client
}

// NewClient reaches the API at addr (host:port) through dial, e.g. the
// virtual network's in-process dialer.
func NewClient(addr string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *Client {
	return &Client{
		base: "http://" + addr,
		http: &http.Client{Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}},
	}
}

func (c *Client) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("guest API %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e errorBody
		json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&e)
		return fmt.Errorf("guest API %s: %s: %s", path, resp.Status, e.Message)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("guest API %s: %w", path, err)
	}
	return nil
}

// Health fetches the guest's health.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	err := c.call(ctx, http.MethodGet, "/v1/health", nil, &h)
	return h, err
}

// Stats fetches resource use.
func (c *Client) Stats(ctx context.Context) (stats.Stats, error) {
	var s stats.Stats
	err := c.call(ctx, http.MethodGet, "/v1/stats", nil, &s)
	return s, err
}

// Shutdown asks the guest to stop its containers and engine cleanly and
// power off (or reboot). It returns once the guest has accepted.
func (c *Client) Shutdown(ctx context.Context, reboot bool) error {
	return c.call(ctx, http.MethodPost, "/v1/shutdown", ShutdownRequest{Reboot: reboot}, nil)
}

// ErrBootFailed is wrapped by WaitReady when the guest reports a failure.
var ErrBootFailed = errors.New("the guest failed to boot")

// WaitReady polls the guest's health until it is ready or reports a
// failure, telling progress (if set) of each new boot step. It gives up when
// ctx ends or gone is closed (the VM went away), with the last poll error.
func (c *Client) WaitReady(ctx context.Context, gone <-chan struct{}, progress func(Step)) (Health, error) {
	var h Health
	var last error
	seen := ""
	for {
		hctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		got, err := c.Health(hctx)
		cancel()
		last = err
		if err == nil {
			h = got
			switch h.State {
			case Ready:
				return h, nil
			case Failed:
				return h, fmt.Errorf("%w: %s", ErrBootFailed, h.Error)
			}
			if n := len(h.Boot); n > 0 && h.Boot[n-1].Name != seen && progress != nil {
				seen = h.Boot[n-1].Name
				progress(h.Boot[n-1])
			}
		}
		select {
		case <-gone:
			return h, errors.New("the VM stopped before the guest was ready")
		case <-ctx.Done():
			return h, fmt.Errorf("the guest was not ready: %w (last error: %v)", ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
