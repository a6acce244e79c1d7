package protocol

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Client calls the guest API. It lives here, beside the wire types, so
// that the host daemon and the end-to-end tests share one, and the guest
// API's round-trip tests need no host package.
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
	if err := Call(ctx, c.http, method, c.base+path, body, out); err != nil {
		return fmt.Errorf("guest API %s: %w", path, err)
	}
	return nil
}

// Health fetches the guest's health.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	err := c.call(ctx, http.MethodGet, HealthPath, nil, &h)
	return h, err
}

// Stats fetches resource use.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	err := c.call(ctx, http.MethodGet, StatsPath, nil, &s)
	return s, err
}

// DiskUse fetches what fills the data disk.
func (c *Client) DiskUse(ctx context.Context) (DiskUse, error) {
	var u DiskUse
	err := c.call(ctx, http.MethodGet, DiskPath, nil, &u)
	return u, err
}

// Trim trims the data disk now and says how much was trimmed.
func (c *Client) Trim(ctx context.Context) (uint64, error) {
	var t Trimmed
	err := c.call(ctx, http.MethodPost, TrimPath, nil, &t)
	return t.Bytes, err
}

// FSEvents hands the guest a batch of changes in shared folders.
func (c *Client) FSEvents(ctx context.Context, ev FSEvents) (FSEventsApplied, error) {
	var a FSEventsApplied
	err := c.call(ctx, http.MethodPost, FSEventsPath, ev, &a)
	return a, err
}

// Shutdown asks the guest to stop its containers and engine cleanly and
// power off (or reboot). It returns once the guest has accepted.
func (c *Client) Shutdown(ctx context.Context, reboot bool) error {
	return c.call(ctx, http.MethodPost, ShutdownPath, ShutdownRequest{Reboot: reboot}, nil)
}

// Clock reads the guest's wall clock.
func (c *Client) Clock(ctx context.Context) (time.Time, error) {
	var g Clock
	if err := c.call(ctx, http.MethodGet, ClockPath, nil, &g); err != nil {
		return time.Time{}, err
	}
	return time.Unix(0, g.UnixNano), nil
}

// StepClock moves the guest's wall clock by d and returns its time after.
func (c *Client) StepClock(ctx context.Context, d time.Duration) (time.Time, error) {
	var g Clock
	if err := c.call(ctx, http.MethodPost, ClockPath, ClockStep{StepNanos: int64(d)}, &g); err != nil {
		return time.Time{}, err
	}
	return time.Unix(0, g.UnixNano), nil
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
