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
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berthvm/berth/netproxy/portspec"
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
	json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&msg) //nolint:errcheck // an error body that is not JSON leaves the message empty
	return nil, fmt.Errorf("engine GET %s: %s: %s", path, resp.Status, msg.Message)
}

func (e *engine) close() { e.tr.CloseIdleConnections() }

// forwards works out the host listeners a running container needs: one per
// (protocol, host IP, port) that dockerd published in the guest, on the
// address the user named, or on both loopbacks (127.0.0.1 and ::1) when
// they named none. dockerd binds a wildcard then; loopback instead keeps a
// plain "-p 8080:80" off the host's LAN. guestIP is the guest's address.
func forwards(c *container, guestIP string) []Forward {
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
		// dockerd reports an IPv4 and an IPv6 binding for a request without
		// an address: IPv4 first, so both loopback listeners dial the
		// IPv4 one, which every engine binds and the fastest to reach.
		bound := slices.Clone(c.NetworkSettings.Ports[k])
		slices.SortStableFunc(bound, func(a, b binding) int { return family(a) - family(b) })
		for _, b := range bound {
			port, err := strconv.Atoi(b.HostPort)
			actual, perr := netip.ParseAddr(b.HostIP)
			if err != nil || port <= 0 || port > 65535 || perr != nil {
				continue
			}
			actual = actual.Unmap()
			fw := Forward{
				Container: c.ID, Name: name, Proto: proto,
				HostPort: port, GuestIP: guestAddr(actual, proto, guestIP), GuestPort: port, ContainerPort: ctrPort,
			}
			hosts := []string{"127.0.0.1", "::1"}
			fw.Published = portspec.Published(netip.Addr{}, port, ctrPort, proto)
			fw.implied = true
			if named(c.HostConfig.PortBindings[k], b) {
				hosts = []string{actual.String()}
				fw.implied = false
				fw.Published = portspec.Published(actual, port, ctrPort, proto)
				if err := CheckHostIP(actual, nil); err != nil {
					fw.Error = err.Error()
				}
			}
			for _, h := range hosts {
				fw.HostIP = h
				if !seen[fw.key()] {
					seen[fw.key()] = true
					out = append(out, fw)
				}
			}
		}
	}
	return out
}

// guestAddr is where to reach a port dockerd bound on addr: the guest's
// own address for TCP on the IPv4 wildcard, where the engine's DNAT takes
// the connection to the container in the kernel, with no hop through
// guestd and docker-proxy in user space; else addr itself on loopback, or
// for a wildcard the family's loopback, which guestd dials from inside.
func guestAddr(addr netip.Addr, proto, guestIP string) string {
	switch {
	case proto == "tcp" && addr == netip.IPv4Unspecified():
		return guestIP
	case addr.IsLoopback():
		return addr.String()
	case addr.Is4():
		return "127.0.0.1"
	}
	return "::1"
}

// named reports whether the user gave the address of the binding dockerd
// made, rather than leaving it to the default.
func named(requested []binding, actual binding) bool {
	for _, r := range requested {
		if r.HostIP != "" && sameIP(r.HostIP, actual.HostIP) && portMatches(r.HostPort, actual.HostPort) {
			return true
		}
	}
	return false
}

// family orders bindings: 0 for IPv4, 1 for the rest.
func family(b binding) int {
	if a, err := netip.ParseAddr(b.HostIP); err == nil && a.Unmap().Is4() {
		return 0
	}
	return 1
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
