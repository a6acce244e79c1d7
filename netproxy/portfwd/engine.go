package portfwd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// apiVersion pins the engine API: 1.41 (dockerd 20.10, the guest before
// Debian 13) is the oldest the guest has run; dockerd 26 serves it too.
const apiVersion = "v1.41"

// requestTimeout bounds list and inspect calls; the event stream has none.
const requestTimeout = 10 * time.Second

// errNotFound is the engine's 404: the container is gone.
var errNotFound = errors.New("no such container")

// engine is a minimal client for the parts of the dockerd API port
// forwarding needs. Plain JSON structs keep the docker SDK out of the build.
type engine struct {
	hc *http.Client
	tr *http.Transport
}

func newEngine(dial func(ctx context.Context) (net.Conn, error)) *engine {
	tr := &http.Transport{
		// Every request goes to the one engine, whatever the URL says.
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dial(ctx)
		},
		// dockerd sends headers at once, even for the event stream: a
		// silent engine is a broken one.
		ResponseHeaderTimeout: requestTimeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
	}
	return &engine{hc: &http.Client{Transport: tr}, tr: tr}
}

// event is the part of an engine event that matters here.
type event struct {
	Type   string
	Action string
	Actor  struct {
		ID string
	}
}

// binding is one entry of PortBindings or NetworkSettings.Ports.
type binding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

// container is the part of GET /containers/{id}/json that matters here.
type container struct {
	ID    string `json:"Id"`
	Name  string
	State struct {
		Running    bool
		Restarting bool
	}
	HostConfig struct {
		// What the user asked for: an empty HostIp means "not given".
		PortBindings map[string][]binding
	}
	NetworkSettings struct {
		// What dockerd bound in the guest, with real (even ephemeral) ports.
		Ports map[string][]binding
	}
}

// events subscribes to container events. The subscription is live once this
// returns (dockerd flushes the headers right away); the body streams one
// JSON object per event until the connection ends.
func (e *engine) events(ctx context.Context) (io.ReadCloser, error) {
	q := url.Values{"filters": {`{"type":["container"]}`}}
	resp, err := e.do(ctx, "/events?"+q.Encode())
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// running lists the IDs of running containers.
func (e *engine) running(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var list []struct {
		ID string `json:"Id"`
	}
	if err := e.getJSON(ctx, "/containers/json", &list); err != nil {
		return nil, err
	}
	ids := make([]string, len(list))
	for i, c := range list {
		ids[i] = c.ID
	}
	return ids, nil
}

// inspect returns a container's details, or errNotFound.
func (e *engine) inspect(ctx context.Context, id string) (*container, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var c container
	if err := e.getJSON(ctx, "/containers/"+url.PathEscape(id)+"/json", &c); err != nil {
		return nil, err
	}
	return &c, nil
}

func (e *engine) getJSON(ctx context.Context, path string, v any) error {
	resp, err := e.do(ctx, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("engine GET %s: decode: %w", path, err)
	}
	return nil
}

// do sends a GET and returns the response if it is a 200.
func (e *engine) do(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://engine/"+apiVersion+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("engine GET %s: %w", path, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("engine GET %s: %w", path, errNotFound)
	}
	var msg struct{ Message string }
	json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&msg)
	return nil, fmt.Errorf("engine GET %s: %s: %s", path, resp.Status, msg.Message)
}

func (e *engine) close() { e.tr.CloseIdleConnections() }

// forwards works out the host listeners a running container needs: one per
// (protocol, host IP, port) that dockerd published in the guest.
func forwards(c *container) []Forward {
	name := strings.TrimPrefix(c.Name, "/")
	keys := make([]string, 0, len(c.NetworkSettings.Ports))
	for k := range c.NetworkSettings.Ports {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []Forward
	seen := map[key]bool{}
	for _, k := range keys {
		portStr, proto, _ := strings.Cut(k, "/")
		ctrPort, err := strconv.Atoi(portStr)
		if err != nil || (proto != "tcp" && proto != "udp") {
			continue // sctp cannot cross the user-mode network
		}
		for _, b := range c.NetworkSettings.Ports[k] {
			port, err := strconv.Atoi(b.HostPort)
			if err != nil || port <= 0 || port > 65535 {
				continue
			}
			fw := Forward{
				Container: c.ID, Name: name, Proto: proto,
				HostIP: hostIP(c.HostConfig.PortBindings[k], b), HostPort: port,
				GuestPort: port, ContainerPort: ctrPort,
			}
			// dockerd reports an IPv4 and an IPv6 binding for one request;
			// both become the same host listener.
			if !seen[fw.key()] {
				seen[fw.key()] = true
				out = append(out, fw)
			}
		}
	}
	return out
}

// hostIP picks the host address for a binding dockerd made: the address
// the user named, if they named this one, else 127.0.0.1. dockerd binds a
// wildcard when no address was given; defaulting to loopback instead keeps
// a plain "-p 8080:80" off the host's LAN.
func hostIP(requested []binding, actual binding) string {
	for _, r := range requested {
		if r.HostIP != "" && sameIP(r.HostIP, actual.HostIP) && portMatches(r.HostPort, actual.HostPort) {
			return normalizeIP(actual.HostIP)
		}
	}
	return "127.0.0.1"
}

// portMatches reports whether a requested host port ("", "8080" or a range
// "8000-8010") covers the port dockerd actually bound.
func portMatches(requested, actual string) bool {
	if requested == "" || requested == actual {
		return true
	}
	lo, hi, isRange := strings.Cut(requested, "-")
	if !isRange {
		return false
	}
	a, err1 := strconv.Atoi(actual)
	l, err2 := strconv.Atoi(lo)
	h, err3 := strconv.Atoi(hi)
	return err1 == nil && err2 == nil && err3 == nil && l <= a && a <= h
}

func sameIP(a, b string) bool {
	x, err1 := netip.ParseAddr(a)
	y, err2 := netip.ParseAddr(b)
	return err1 == nil && err2 == nil && x.Unmap() == y.Unmap()
}

func normalizeIP(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().String()
	}
	return s
}
