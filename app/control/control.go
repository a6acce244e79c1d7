// Package control is the daemon's API, used by the CLI and the GUI: HTTP/JSON
// on a unix socket in the user's private run directory.
package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/berthvm/berth/app/diskuse"
	"github.com/berthvm/berth/filesharing"
	"github.com/berthvm/berth/guestd/protocol"
)

// State is the machine's state as the daemon sees it.
type State string

// The machine's states: stopped → starting → running → stopping, or error.
const (
	Stopped  State = "stopped"
	Starting State = "starting"
	Running  State = "running"
	Stopping State = "stopping"
	Error    State = "error"
)

// Forward is one host listener of a published container port. A port
// published without an address has two, on 127.0.0.1 and ::1.
type Forward struct {
	Container string `json:"container"`
	// Published is the binding as the user asked for it, in docker run
	// -p's words: "127.0.0.1:8080:80", "8080:80", "5353:53/udp".
	Published string `json:"published"`
	Proto     string `json:"proto"`
	HostIP    string `json:"host_ip"`
	HostPort  int    `json:"host_port"`
	Error     string `json:"error,omitempty"`
}

// Publication is one published port as the user asked for it, with the
// host addresses it listens on and what failed.
type Publication struct {
	Container string
	Published string
	Proto     string
	HostPort  int
	HostIPs   []string // listening
	Failed    []string // host addresses that could not be listened on
	Errors    []string // why, one per Failed
}

// Publications groups forwards by container and binding, in order.
func Publications(fws []Forward) []Publication {
	var out []Publication
	at := map[[2]string]int{}
	for _, f := range fws {
		k := [2]string{f.Container, f.Published}
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, Publication{Container: f.Container, Published: f.Published, Proto: f.Proto, HostPort: f.HostPort})
		}
		if f.Error != "" {
			out[i].Failed = append(out[i].Failed, f.HostIP)
			out[i].Errors = append(out[i].Errors, f.Error)
		} else {
			out[i].HostIPs = append(out[i].HostIPs, f.HostIP)
		}
	}
	return out
}

// Status is GET /v1/status.
type Status struct {
	State     State  `json:"state"`
	Reason    string `json:"reason,omitempty"` // why, in the error state; while running, what holds the VM paused
	Step      string `json:"step,omitempty"`   // progress while starting or stopping
	CPUs      int    `json:"cpus"`
	MemoryMiB int    `json:"memory_mib"`
	DiskGiB   int    `json:"disk_gib"`
	// The engine's limit on each container's log this machine started
	// with: at most ContainerLogFiles files of ContainerLogMiB MiB.
	ContainerLogMiB   int `json:"container_log_mib,omitempty"`
	ContainerLogFiles int `json:"container_log_files,omitempty"`
	// The opt-ins this machine started with: the host's proxy and CAs
	// for containers.
	ContainerProxy bool             `json:"container_proxy,omitempty"`
	ContainerCAs   bool             `json:"container_cas,omitempty"`
	DockerSocket   string           `json:"docker_socket"`
	Context        string           `json:"docker_context"`
	DaemonLog      string           `json:"daemon_log"`
	SerialLog      string           `json:"serial_log"`
	DaemonPid      int              `json:"daemon_pid"`
	Version        string           `json:"version"`
	Guest          *protocol.Health `json:"guest,omitempty"`
	// DiskStall is set while a disk of the VM has stopped answering: the
	// guest's latest report (Guest.DiskStall when the guest answered now).
	DiskStall *protocol.DiskStall `json:"disk_stall,omitempty"`
	Forwards  []Forward           `json:"forwards,omitempty"`
	// Notes are what the host decided at this start that the user should
	// know (e.g. the CPU is emulated, and why).
	Notes []string `json:"notes,omitempty"`
	// Shares are the folders the running machine shares (set at its start).
	Shares []filesharing.Share `json:"shares,omitempty"`
	// CAs is what of the host's trusted CAs the guest's engine was last
	// given (nil: not asked yet).
	CAs *CAs `json:"cas,omitempty"`
	// Timing of the last start, for the curious and for benchmarks.
	BootSeconds float64 `json:"boot_seconds,omitempty"`
}

// CAs counts the host's trusted CAs carried into the guest's trust store:
// those its own Debian bundle lacks, read from From.
type CAs struct {
	Carried int      `json:"carried"`
	From    []string `json:"from,omitempty"`
}

// Settled says whether a machine in state s is done changing until someone
// asks for more: a start or stop follower ends there, whoever caused it.
func (s State) Settled() bool { return s == Running || s == Stopped || s == Error }

// Event is one line of GET /v1/events: a state change or a progress step.
type Event struct {
	Time   time.Time `json:"time"`
	State  State     `json:"state"`
	Step   string    `json:"step,omitempty"`
	Reason string    `json:"reason,omitempty"`
}

// StopRequest is the body of POST /v1/stop.
type StopRequest struct {
	Force bool `json:"force"`
}

// Counts is GET /v1/debug/counts: what the daemon holds, for finding leaks.
type Counts struct {
	Goroutines int `json:"goroutines"`
	// OpenFiles counts file descriptors (sockets included); -1 where the
	// OS does not list them (Windows).
	OpenFiles int `json:"open_files"`
}

// Client talks to the daemon.
type Client struct {
	http *http.Client
}

// NewClient reaches the daemon at socket.
func NewClient(socket string) *Client {
	return &Client{http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}}
}

// call makes a request of the daemon. Its failures (protocol.ErrorBody)
// are meant for the user as they are.
func (c *Client) call(ctx context.Context, method, path string, body, out any) error {
	err := protocol.Call(ctx, c.http, method, "http://berth"+path, body, out)
	if se := (*protocol.StatusError)(nil); errors.As(err, &se) {
		if se.Message == "" {
			return errors.New(se.Status)
		}
		return errors.New(se.Message)
	}
	return err
}

// Status fetches the daemon's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.call(ctx, http.MethodGet, "/v1/status", nil, &s)
	return s, err
}

// Start asks the daemon to start the machine; follow Events for progress.
func (c *Client) Start(ctx context.Context) error {
	return c.call(ctx, http.MethodPost, "/v1/start", nil, nil)
}

// Stop asks the daemon to stop the machine; it returns when it has stopped.
func (c *Client) Stop(ctx context.Context, force bool) error {
	return c.call(ctx, http.MethodPost, "/v1/stop", StopRequest{Force: force}, nil)
}

// Delete stops the machine and removes it and its data disk.
func (c *Client) Delete(ctx context.Context) error {
	return c.call(ctx, http.MethodPost, "/v1/delete", nil, nil)
}

// Stats fetches the guest's resource use.
func (c *Client) Stats(ctx context.Context) (protocol.Stats, error) {
	var s protocol.Stats
	err := c.call(ctx, http.MethodGet, "/v1/stats", nil, &s)
	return s, err
}

// Counts fetches the daemon's goroutine and open file counts.
func (c *Client) Counts(ctx context.Context) (Counts, error) {
	var n Counts
	err := c.call(ctx, http.MethodGet, "/v1/debug/counts", nil, &n)
	return n, err
}

// DiskUse fetches what fills the data disk (berth df).
func (c *Client) DiskUse(ctx context.Context) (diskuse.Report, error) {
	var r diskuse.Report
	err := c.call(ctx, http.MethodGet, "/v1/disk", nil, &r)
	return r, err
}

// ReclaimRequest is the body of POST /v1/reclaim.
type ReclaimRequest struct {
	What diskuse.Picks `json:"what"`
}

// ReclaimEvent is a line of POST /v1/reclaim's answer: steps, then the
// result with the error, if any, last.
type ReclaimEvent struct {
	Step   string          `json:"step,omitempty"`
	Result *diskuse.Result `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// Reclaim removes what picks names and trims the data disk; progress
// hears each step. A failed step leaves the others done: the result says
// what was, the error what was not.
func (c *Client) Reclaim(ctx context.Context, picks diskuse.Picks, progress func(step string)) (diskuse.Result, error) {
	body, err := json.Marshal(ReclaimRequest{What: picks})
	if err != nil {
		return diskuse.Result{}, err
	}
	var last ReclaimEvent
	err = c.stream(ctx, http.MethodPost, "/v1/reclaim", bytes.NewReader(body), func(line []byte) (bool, error) {
		last = ReclaimEvent{}
		if err := json.Unmarshal(line, &last); err != nil {
			return false, fmt.Errorf("bad reclaim event %q: %w", line, err)
		}
		if last.Step != "" && progress != nil {
			progress(last.Step)
		}
		return last.Result == nil, nil
	})
	if err != nil {
		return diskuse.Result{}, err
	}
	if last.Result == nil {
		return diskuse.Result{}, errors.New("the daemon ended the reclaim without a result")
	}
	if last.Error != "" {
		return *last.Result, errors.New(last.Error)
	}
	return *last.Result, nil
}

// Events streams events, the current state first, until ctx ends or fn
// returns false.
func (c *Client) Events(ctx context.Context, fn func(Event) bool) error {
	err := c.stream(ctx, http.MethodGet, "/v1/events", nil, func(line []byte) (bool, error) {
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			return false, fmt.Errorf("bad event %q: %w", line, err)
		}
		return fn(e), nil
	})
	if err != nil {
		return err
	}
	return ctx.Err()
}

// stream reads a newline-delimited JSON answer, a line at a time, until fn
// says stop or the answer ends. A daemon that refuses the request is an
// error with its message.
func (c *Client) stream(ctx context.Context, method, path string, body io.Reader, fn func(line []byte) (more bool, err error)) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://berth"+path, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e protocol.ErrorBody
		if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e) == nil && e.Message != "" {
			return errors.New(e.Message)
		}
		return errors.New(resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		more, err := fn(sc.Bytes())
		if err != nil || !more {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// StartFollow starts the machine, or joins a start already under way, and
// follows it until it settles (running, stopped or error, whoever caused
// it), which it returns. fn hears every event on the way, the first one
// being the state the machine was in (Starting when joining a start).
func (c *Client) StartFollow(ctx context.Context, fn func(Event)) (Event, error) {
	var last Event
	var startErr error
	first := true
	err := c.Events(ctx, func(e Event) bool {
		last = e
		fn(e)
		if first {
			first = false
			switch e.State {
			case Running, Starting:
				return e.State == Starting
			case Stopping:
				startErr = errors.New("Berth is stopping; start it again once it has stopped")
				return false
			}
			if startErr = c.Start(ctx); startErr != nil {
				return false
			}
			return true
		}
		return !e.State.Settled()
	})
	if startErr != nil {
		return last, startErr
	}
	if last.State.Settled() && !first {
		return last, nil
	}
	if err == nil {
		err = errors.New("the daemon closed the event stream before the machine settled")
	}
	return last, err
}

// Shell opens the guest's debug shell (or runs args) through the daemon and
// returns the raw stream. With tty, the shell runs on a pty of rows x cols.
func Shell(socket string, args []string, tty bool, rows, cols int, term string) (net.Conn, *bufio.Reader, error) {
	conn, err := net.Dial("unix", socket)
	if err != nil {
		return nil, nil, err
	}
	q := url.Values{"cmd": args}
	if tty {
		q.Set("tty", "1")
		q.Set("rows", strconv.Itoa(rows))
		q.Set("cols", strconv.Itoa(cols))
		q.Set("term", term)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://berth/v1/shell?"+q.Encode(), nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", protocol.ShellProtocol)
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer conn.Close()
		return nil, nil, fmt.Errorf("shell: %s: %s", resp.Status, protocol.ErrorMessage(resp))
	}
	return conn, br, nil
}
