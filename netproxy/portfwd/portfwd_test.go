package portfwd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/berthvm/berth/internal/syncbuf"

	"github.com/berthvm/berth/guestd/protocol"
)

const guestIP = "192.168.127.2"

// --- a fake dockerd -------------------------------------------------------

// pub is one published port as the user asked for it, plus the host port
// dockerd ended up binding in the guest.
type pub struct {
	proto   string
	ctr     int
	reqIP   string // "" unless the user named an address
	reqPort string // "" for an ephemeral port
	port    int    // what dockerd bound
}

type fakeContainer struct {
	id, name string
	running  bool
	pubs     []pub
}

// apiBinding spells the engine's JSON exactly, independently of the package.
type apiBinding struct {
	HostIP   string `json:"HostIp"` // the engine's spelling, not Go's
	HostPort string
}

// inspectJSON renders what dockerd 20.10 answers: a binding without an
// address is reported once per family.
func (c *fakeContainer) inspectJSON() map[string]any {
	req := map[string][]apiBinding{}
	act := map[string][]apiBinding{}
	for _, p := range c.pubs {
		k := fmt.Sprintf("%d/%s", p.ctr, p.proto)
		req[k] = append(req[k], apiBinding{p.reqIP, p.reqPort})
		port := strconv.Itoa(p.port)
		if p.reqIP == "" {
			act[k] = append(act[k], apiBinding{"0.0.0.0", port}, apiBinding{"::", port})
		} else {
			act[k] = append(act[k], apiBinding{p.reqIP, port})
		}
	}
	return map[string]any{
		"Id":              c.id,
		"Name":            "/" + c.name,
		"State":           map[string]any{"Status": "running", "Running": c.running, "Restarting": false},
		"HostConfig":      map[string]any{"PortBindings": req},
		"NetworkSettings": map[string]any{"Ports": act},
	}
}

type subscriber struct {
	events chan []byte
	drop   chan struct{}
}

type fakeEngine struct {
	t    *testing.T
	srv  *httptest.Server
	quit chan struct{}

	mu         sync.Mutex
	containers map[string]*fakeContainer
	subs       []*subscriber
	down       bool // answer 503, as an engine that is not up would fail
	refused    int  // requests answered 503
	subscribed int
}

func newFakeEngine(t *testing.T) *fakeEngine {
	e := &fakeEngine{t: t, quit: make(chan struct{}), containers: map[string]*fakeContainer{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1.41/events", e.events)
	mux.HandleFunc("GET /v1.41/containers/json", e.list)
	mux.HandleFunc("GET /v1.41/containers/{id}/json", e.inspect)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		close(e.quit) // lets streaming handlers end, so Close does not wait on them
		e.srv.Close()
	})
	return e
}

func (e *fakeEngine) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", e.srv.Listener.Addr().String())
}

func (e *fakeEngine) isDown(w http.ResponseWriter) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.down {
		e.refused++
		http.Error(w, `{"message":"engine is down"}`, http.StatusServiceUnavailable)
	}
	return e.down
}

func (e *fakeEngine) events(w http.ResponseWriter, r *http.Request) {
	if e.isDown(w) {
		return
	}
	if got := r.URL.Query().Get("filters"); got != `{"type":["container"]}` {
		e.t.Errorf("events filters = %q", got)
	}
	s := &subscriber{events: make(chan []byte, 64), drop: make(chan struct{})}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	e.mu.Lock()
	e.subs = append(e.subs, s)
	e.subscribed++
	e.mu.Unlock()
	for {
		select {
		case b := <-s.events:
			w.Write(append(b, '\n'))
			w.(http.Flusher).Flush()
		case <-s.drop:
			return
		case <-r.Context().Done():
			return
		case <-e.quit:
			return
		}
	}
}

func (e *fakeEngine) list(w http.ResponseWriter, r *http.Request) {
	if e.isDown(w) {
		return
	}
	e.mu.Lock()
	var out []map[string]any
	for _, c := range e.containers {
		if c.running {
			out = append(out, map[string]any{"Id": c.id, "Names": []string{"/" + c.name}, "State": "running"})
		}
	}
	e.mu.Unlock()
	json.NewEncoder(w).Encode(out)
}

func (e *fakeEngine) inspect(w http.ResponseWriter, r *http.Request) {
	if e.isDown(w) {
		return
	}
	e.mu.Lock()
	c := e.containers[r.PathValue("id")]
	var body map[string]any
	if c != nil {
		body = c.inspectJSON()
	}
	e.mu.Unlock()
	if c == nil {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"message": "No such container: " + r.PathValue("id")})
		return
	}
	json.NewEncoder(w).Encode(body)
}

// set adds or replaces a container (no event).
func (e *fakeEngine) set(c *fakeContainer) {
	e.mu.Lock()
	e.containers[c.id] = c
	e.mu.Unlock()
}

func (e *fakeEngine) remove(id string) {
	e.mu.Lock()
	delete(e.containers, id)
	e.mu.Unlock()
}

func (e *fakeEngine) setRunning(id string, running bool) {
	e.mu.Lock()
	e.containers[id].running = running
	e.mu.Unlock()
}

// push sends an event to every current subscriber.
func (e *fakeEngine) push(action, id string) {
	b, _ := json.Marshal(map[string]any{
		"status": action, "id": id, "Type": "container", "Action": action,
		"Actor": map[string]any{"ID": id, "Attributes": map[string]string{"name": id}},
		"scope": "local", "time": time.Now().Unix(), "timeNano": time.Now().UnixNano(),
	})
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.subs {
		s.events <- b
	}
}

// dropStreams ends every event stream, as a VM network hiccup would.
func (e *fakeEngine) dropStreams() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.subs {
		close(s.drop)
	}
	e.subs = nil
}

func (e *fakeEngine) setDown(down bool) {
	e.mu.Lock()
	e.down = down
	e.mu.Unlock()
}

func (e *fakeEngine) refusals() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.refused
}

func (e *fakeEngine) subscriptions() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.subscribed
}

// --- a fake guest ----------------------------------------------------------

// fakeGuest maps guest ports to real local servers, so data really flows.
type fakeGuest struct {
	mu       sync.Mutex
	tcp, udp map[int]string
	dialed   []string // "network addr" of each dial
	udpDials atomic.Int32
	udpEnds  atomic.Int32 // UDP flows closed
}

// countedClose counts its Close in n: a test waits for a flow's end.
type countedClose struct {
	net.Conn
	n    *atomic.Int32
	once sync.Once
}

func (c *countedClose) Close() error {
	c.once.Do(func() { c.n.Add(1) })
	return c.Conn.Close()
}

func (g *fakeGuest) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if err := protocol.CheckDialAddr(network, addr); err != nil && (network != "tcp" || !strings.HasPrefix(addr, guestIP+":")) {
		return nil, fmt.Errorf("dial %s %s: neither the guest nor its loopback: %w", network, addr, err)
	}
	ap := netip.MustParseAddrPort(addr)
	g.mu.Lock()
	g.dialed = append(g.dialed, network+" "+addr)
	local, ok := map[string]map[int]string{"tcp": g.tcp, "udp": g.udp}[network][int(ap.Port())]
	g.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("dial %s %s: connection refused", network, addr)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, local)
	if err != nil || network != "udp" {
		return c, err
	}
	g.udpDials.Add(1)
	return &countedClose{Conn: c, n: &g.udpEnds}, nil
}

func (g *fakeGuest) dials() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.dialed)
}

func (g *fakeGuest) serveTCP(port int, addr string) {
	g.mu.Lock()
	g.tcp[port] = addr
	g.mu.Unlock()
}

func (g *fakeGuest) serveUDP(port int, addr string) {
	g.mu.Lock()
	g.udp[port] = addr
	g.mu.Unlock()
}

// tcpEcho echoes until the client half-closes, then half-closes back.
func tcpEcho(t *testing.T) string {
	return tcpServer(t, func(c *net.TCPConn) {
		io.Copy(c, c)
		c.CloseWrite()
	})
}

func tcpServer(t *testing.T, handle func(*net.TCPConn)) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c.(*net.TCPConn))
			}()
		}
	}()
	return l.Addr().String()
}

func udpEcho(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	return pc.LocalAddr().String()
}

// --- harness ---------------------------------------------------------------

type harness struct {
	t     *testing.T
	eng   *fakeEngine
	guest *fakeGuest
	fwd   *Forwarder
	log   *syncbuf.Buffer

	mu       sync.Mutex
	listened []string // "network addr" asked of Listen
}

// newHarness builds the fakes; start runs the Forwarder.
func newHarness(t *testing.T) *harness {
	t.Parallel()
	h := &harness{
		t:     t,
		eng:   newFakeEngine(t),
		guest: &fakeGuest{tcp: map[int]string{}, udp: map[int]string{}},
		log:   &syncbuf.Buffer{},
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("forwarder log:\n%s", h.log)
		}
	})
	return h
}

func (h *harness) config() Config {
	return Config{
		Engine:  h.eng.dial,
		Guest:   h.guest.dial,
		GuestIP: guestIP,
		Log:     slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Listen: func(network, addr string) (net.Listener, error) {
			h.mu.Lock()
			h.listened = append(h.listened, network+" "+addr)
			h.mu.Unlock()
			return net.Listen(network, addr)
		},
		ListenPacket: func(network, addr string) (net.PacketConn, error) {
			h.mu.Lock()
			h.listened = append(h.listened, network+" "+addr)
			h.mu.Unlock()
			return net.ListenPacket(network, addr)
		},
	}
}

// start runs a Forwarder until the test ends and waits for its first
// subscription, so that pushed events reach it.
func (h *harness) start(cfg Config) {
	h.fwd = New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.fwd.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				h.t.Errorf("Run: %v", err)
			}
			if st := h.fwd.Status(); len(st) != 0 {
				h.t.Errorf("forwards left after Run: %+v", st)
			}
		case <-time.After(5 * time.Second):
			h.t.Error("Run did not return after cancel")
		}
	})
	h.waitFor("the event subscription", func() bool { return h.eng.subscriptions() >= 1 })
}

func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; status %+v", what, h.fwd.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// forward returns the status entry for a host port on 127.0.0.1 (or the
// only address it is published on).
func (h *harness) forward(proto string, port int) (Forward, bool) {
	st := h.fwd.Status()
	for _, fw := range st {
		if fw.Proto == proto && fw.HostPort == port && fw.HostIP == "127.0.0.1" {
			return fw, true
		}
	}
	for _, fw := range st {
		if fw.Proto == proto && fw.HostPort == port {
			return fw, true
		}
	}
	return Forward{}, false
}

func (h *harness) waitForward(proto string, port int) Forward {
	h.t.Helper()
	h.waitFor(fmt.Sprintf("%s forward on %d", proto, port), func() bool {
		_, ok := h.forward(proto, port)
		return ok
	})
	fw, _ := h.forward(proto, port)
	return fw
}

func (h *harness) waitGone(proto string, port int) {
	h.t.Helper()
	h.waitFor(fmt.Sprintf("%s forward on %d to close", proto, port), func() bool {
		_, ok := h.forward(proto, port)
		return !ok
	})
}

func (h *harness) listenedOn(s string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.listened {
		if l == s {
			return true
		}
	}
	return false
}

// freePort finds a port that is free on 127.0.0.1 and ::1 for network.
func freePort(t *testing.T, network string) int {
	t.Helper()
	for {
		var port int
		if network == "udp" {
			pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port = pc.LocalAddr().(*net.UDPAddr).Port
			pc.Close()
			if pc6, err := net.ListenPacket("udp6", hostAddr6(port)); err == nil {
				pc6.Close()
				return port
			}
			continue
		}
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
		if l6, err := net.Listen("tcp6", hostAddr6(port)); err == nil {
			l6.Close()
			return port
		}
	}
}

func hostAddr(port int) string  { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
func hostAddr6(port int) string { return net.JoinHostPort("::1", strconv.Itoa(port)) }

// echoOnce sends msg on c and expects it back.
func echoOnce(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("echo of %q: got %q, %v", msg, got, err)
	}
}

// roundTrip connects to a host port on 127.0.0.1 and checks that data
// comes back.
func roundTrip(t *testing.T, port int) {
	t.Helper()
	roundTripAt(t, hostAddr(port))
}

func roundTripAt(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatalf("dial host %s: %v", addr, err)
	}
	defer c.Close()
	echoOnce(t, c, "ping "+addr)
}

func refused(t *testing.T, port int) {
	t.Helper()
	c, err := net.DialTimeout("tcp", hostAddr(port), 3*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("host port %d still accepts connections", port)
	}
}

// webContainer publishes a guest-backed TCP echo server.
func (h *harness) webContainer(id string, pubs ...pub) *fakeContainer {
	for _, p := range pubs {
		if p.proto == "tcp" {
			h.guest.serveTCP(p.port, tcpEcho(h.t))
		} else {
			h.guest.serveUDP(p.port, udpEcho(h.t))
		}
	}
	c := &fakeContainer{id: id, name: id, running: true, pubs: pubs}
	h.eng.set(c)
	return c
}

// --- tests -----------------------------------------------------------------

func TestStartForwardsAndDieCloses(t *testing.T) {
	h := newHarness(t)
	h.start(h.config())
	p := freePort(t, "tcp")
	h.webContainer("web", pub{"tcp", 80, "", strconv.Itoa(p), p})
	h.eng.push("start", "web")

	fw := h.waitForward("tcp", p)
	published := fmt.Sprintf("%d:80", p)
	want := Forward{Container: "web", Name: "web", Proto: "tcp", HostIP: "127.0.0.1", HostPort: p,
		GuestIP: guestIP, GuestPort: p, ContainerPort: 80, Published: published, implied: true}
	if fw != want {
		t.Fatalf("forward = %+v, want %+v", fw, want)
	}
	// dockerd reported 0.0.0.0 and ::; one listener per loopback, both
	// dialing the IPv4 binding at the guest's address.
	h.waitFor("the ::1 listener", func() bool { return len(h.fwd.Status()) == 2 })
	want.HostIP = "::1"
	if st := h.fwd.Status(); st[0] != want && st[1] != want {
		t.Fatalf("status = %+v, want %+v among them", st, want)
	}
	for _, l := range []string{"tcp4 127.0.0.1:", "tcp6 [::1]:"} {
		if !h.listenedOn(l + strconv.Itoa(p)) {
			t.Fatalf("listened on %v, want %s%d", h.listened, l, p)
		}
	}
	roundTrip(t, p)
	roundTripAt(t, hostAddr6(p))
	for _, d := range h.guest.dials() {
		if d != "tcp "+guestIP+":"+strconv.Itoa(p) {
			t.Fatalf("guest dials %v, want tcp %s:%d", h.guest.dials(), guestIP, p)
		}
	}

	live, err := net.Dial("tcp", hostAddr(p))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	echoOnce(t, live, "before die")

	// A signal the container survives leaves the forward alone. Events are
	// handled in order, so once "other" is forwarded, "kill" was handled.
	q := freePort(t, "tcp")
	h.webContainer("other", pub{"tcp", 80, "", strconv.Itoa(q), q})
	h.eng.push("kill", "web")
	h.eng.push("start", "other")
	h.waitForward("tcp", q)
	if _, ok := h.forward("tcp", p); !ok {
		t.Fatal("kill of a container that kept running closed its forward")
	}

	h.eng.setRunning("web", false)
	h.eng.push("die", "web")
	h.eng.push("stop", "web") // repeated closes are harmless
	h.waitGone("tcp", p)
	refused(t, p)
	if c, err := net.DialTimeout("tcp", hostAddr6(p), 3*time.Second); err == nil {
		c.Close()
		t.Fatal("::1 still accepts connections after die")
	}
	// Closing the forward ended the connection through it.
	live.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := live.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("open connection survived its forward: n=%d err=%v", n, err)
	}
	roundTrip(t, q) // the other container is untouched

	h.eng.remove("web")
	h.eng.push("destroy", "web")
	h.eng.setRunning("other", false)
	h.eng.push("die", "other")
	h.waitGone("tcp", q)
}

func TestExplicitHostIP(t *testing.T) {
	h := newHarness(t)
	cfg := h.config()
	// Record what was asked, but bind loopback: tests stay off the LAN.
	cfg.Listen = func(network, addr string) (net.Listener, error) {
		h.mu.Lock()
		h.listened = append(h.listened, network+" "+addr)
		h.mu.Unlock()
		_, port, _ := net.SplitHostPort(addr)
		return net.Listen("tcp4", hostAddr(mustAtoi(t, port)))
	}
	p, q := freePort(t, "tcp"), freePort(t, "tcp")
	h.webContainer("pub", // running before the Forwarder starts: found by the resync
		pub{"tcp", 80, "0.0.0.0", strconv.Itoa(p), p},
		pub{"tcp", 81, "127.0.0.1", strconv.Itoa(q), q})
	h.start(cfg)

	if fw := h.waitForward("tcp", p); fw.HostIP != "0.0.0.0" {
		t.Fatalf("explicit 0.0.0.0 became %q", fw.HostIP)
	}
	if fw := h.waitForward("tcp", q); fw.HostIP != "127.0.0.1" {
		t.Fatalf("explicit 127.0.0.1 became %q", fw.HostIP)
	}
	for _, want := range []string{"tcp4 0.0.0.0:" + strconv.Itoa(p), "tcp4 127.0.0.1:" + strconv.Itoa(q)} {
		if !h.listenedOn(want) {
			t.Fatalf("listened on %v, want %s", h.listened, want)
		}
	}
	roundTrip(t, p)
	roundTrip(t, q)
}

func mustAtoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A host without IPv6 has no ::1: a port published on no address in
// particular is on 127.0.0.1 alone, and that is no error.
func TestNoIPv6Loopback(t *testing.T) {
	h := newHarness(t)
	cfg := h.config()
	cfg.Listen = func(network, addr string) (net.Listener, error) {
		if network == "tcp6" {
			return nil, &net.OpError{Op: "listen", Net: network, Err: &os.SyscallError{Syscall: "bind", Err: syscall.EADDRNOTAVAIL}}
		}
		return net.Listen(network, addr)
	}
	h.start(cfg)
	p := freePort(t, "tcp")
	h.webContainer("v4only", pub{"tcp", 80, "", strconv.Itoa(p), p})
	h.eng.push("start", "v4only")
	if fw := h.waitForward("tcp", p); fw.Error != "" {
		t.Fatalf("forward = %+v", fw)
	}
	roundTrip(t, p)
	h.waitFor("the ::1 attempt", func() bool {
		h.fwd.mu.Lock()
		defer h.fwd.mu.Unlock()
		return len(h.fwd.open) == 2
	})
	if st := h.fwd.Status(); len(st) != 1 {
		t.Fatalf("status = %+v, want the 127.0.0.1 forward alone", st)
	}
}

func TestEphemeralPort(t *testing.T) {
	h := newHarness(t)
	h.start(h.config())
	p := freePort(t, "tcp") // the port dockerd "picked" for -p 80
	h.webContainer("eph", pub{"tcp", 80, "", "", p})
	h.eng.push("start", "eph")
	fw := h.waitForward("tcp", p)
	if fw.HostIP != "127.0.0.1" || fw.GuestPort != p || fw.Error != "" {
		t.Fatalf("forward = %+v", fw)
	}
	roundTrip(t, p)
}

func TestUDP(t *testing.T) {
	h := newHarness(t)
	cfg := h.config()
	cfg.UDPIdle = 300 * time.Millisecond
	h.start(cfg)
	u := freePort(t, "udp")
	h.webContainer("dns", pub{"udp", 53, "", strconv.Itoa(u), u})
	h.eng.push("start", "dns")
	if fw := h.waitForward("udp", u); fw.Error != "" || fw.HostIP != "127.0.0.1" {
		t.Fatalf("forward = %+v", fw)
	}

	a, err := net.Dial("udp", hostAddr(u))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := net.Dial("udp", hostAddr(u))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	echoOnce(t, a, "a1")
	echoOnce(t, a, "a2")
	echoOnce(t, b, "b1") // each client gets its own replies
	echoOnce(t, a, "a3")
	if n := h.guest.udpDials.Load(); n != 2 {
		t.Fatalf("guest flows = %d, want one per client (2)", n)
	}
	h.waitFor("both flows to expire", func() bool { return h.guest.udpEnds.Load() == 2 })
	echoOnce(t, a, "a4")
	if n := h.guest.udpDials.Load(); n != 3 {
		t.Fatalf("guest flows = %d after idling, want a new flow (3)", n)
	}

	h.eng.setRunning("dns", false)
	h.eng.push("die", "dns")
	h.waitGone("udp", u)
	// The port is free again: the listener was closed.
	pc, err := net.ListenPacket("udp4", hostAddr(u))
	if err != nil {
		t.Fatalf("udp port still held after close: %v", err)
	}
	pc.Close()
}

func TestHostPortInUse(t *testing.T) {
	h := newHarness(t)
	h.start(h.config())
	taken, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	p := taken.Addr().(*net.TCPAddr).Port
	q := freePort(t, "tcp")
	h.webContainer("clash",
		pub{"tcp", 80, "", strconv.Itoa(p), p},
		pub{"tcp", 443, "", strconv.Itoa(q), q})
	h.eng.push("start", "clash")

	bad := h.waitForward("tcp", p)
	if !strings.Contains(bad.Error, "already in use") {
		t.Fatalf("forward on a taken port = %+v, want an in-use error", bad)
	}
	if good := h.waitForward("tcp", q); good.Error != "" {
		t.Fatalf("forward on a free port = %+v", good)
	}
	roundTrip(t, q)
	logs := h.log.String()
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "container=clash") ||
		!strings.Contains(logs, "another host port") || !strings.Contains(logs, strconv.Itoa(p)) {
		t.Fatalf("no useful warning about the taken port in:\n%s", logs)
	}

	// Once the port is free, the next resync opens it.
	taken.Close()
	h.eng.dropStreams()
	h.waitFor("the retried forward", func() bool {
		fw, ok := h.forward("tcp", p)
		return ok && fw.Error == ""
	})
	roundTrip(t, p)
}

func TestReconnectResyncs(t *testing.T) {
	h := newHarness(t)
	pa, pd, pc := freePort(t, "tcp"), freePort(t, "tcp"), freePort(t, "tcp")
	h.webContainer("a", pub{"tcp", 80, "", strconv.Itoa(pa), pa})
	h.webContainer("d", pub{"tcp", 80, "", strconv.Itoa(pd), pd})
	h.start(h.config())
	h.waitForward("tcp", pa)
	h.waitForward("tcp", pd)

	live, err := net.Dial("tcp", hostAddr(pa))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	echoOnce(t, live, "before")

	// The engine goes away; meanwhile d exits and c starts, unannounced.
	h.eng.setDown(true)
	h.eng.dropStreams()
	h.eng.remove("d")
	h.webContainer("c", pub{"tcp", 80, "", strconv.Itoa(pc), pc})
	before := h.eng.refusals()
	h.waitFor("a few failed reconnects", func() bool { return h.eng.refusals() >= before+3 })
	if _, ok := h.forward("tcp", pd); !ok {
		t.Fatal("forwards were dropped while the engine was unreachable")
	}
	h.eng.setDown(false)

	h.waitGone("tcp", pd)
	h.waitForward("tcp", pc)
	roundTrip(t, pc)
	refused(t, pd)
	echoOnce(t, live, "after") // a still-wanted forward was left alone
	if n := h.eng.subscriptions(); n < 2 {
		t.Fatalf("subscriptions = %d, want a resubscription", n)
	}

	// And events flow on the new stream.
	h.eng.setRunning("a", false)
	h.eng.push("die", "a")
	h.waitGone("tcp", pa)
}

func TestHalfClose(t *testing.T) {
	h := newHarness(t)
	h.start(h.config())
	got := make(chan string, 1)
	// The guest speaks first and half-closes, then reads the client's
	// answer until the client half-closes.
	server := tcpServer(t, func(c *net.TCPConn) {
		c.Write([]byte("hello"))
		c.CloseWrite()
		b, _ := io.ReadAll(c)
		got <- string(b)
	})
	p := freePort(t, "tcp")
	h.guest.serveTCP(p, server)
	h.eng.set(&fakeContainer{id: "hc", name: "hc", running: true, pubs: []pub{{"tcp", 80, "", strconv.Itoa(p), p}}})
	h.eng.push("start", "hc")
	h.waitForward("tcp", p)

	c, err := net.Dial("tcp", hostAddr(p))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	// EOF arrives while the connection stays open for writing.
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "hello" {
		t.Fatalf("read from guest: %q, %v", b, err)
	}
	if _, err := c.Write([]byte("late reply")); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	select {
	case s := <-got:
		if s != "late reply" {
			t.Fatalf("guest read %q", s)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the client's half-close never reached the guest")
	}
}

// TestForwardsFromInspect checks how dockerd's answer becomes host
// listeners and guest addresses, for the publish forms users write.
func TestForwardsFromInspect(t *testing.T) {
	t.Parallel()
	// "proto hostIP:port -> guestIP:port (ctrPort) published"
	cases := []struct {
		name       string
		req, bound string // PortBindings and NetworkSettings.Ports, as dockerd spells them
		want       []string
	}{{
		name:  "-p 8080:80 is on both loopbacks, dialing the IPv4 binding at the guest's address",
		req:   `{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}`,
		bound: `{"80/tcp":[{"HostIp":"::","HostPort":"8080"},{"HostIp":"0.0.0.0","HostPort":"8080"}]}`,
		want:  []string{"tcp 127.0.0.1:8080 -> 192.168.127.2:8080 (80) 8080:80", "tcp [::1]:8080 -> 192.168.127.2:8080 (80) 8080:80"},
	}, {
		name:  "-p 8080:80 where the engine bound IPv6 only",
		req:   `{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}`,
		bound: `{"80/tcp":[{"HostIp":"::","HostPort":"8080"}]}`,
		want:  []string{"tcp 127.0.0.1:8080 -> [::1]:8080 (80) 8080:80", "tcp [::1]:8080 -> [::1]:8080 (80) 8080:80"},
	}, {
		name:  "-p 127.0.0.1:8080:80 dials the VM's loopback",
		req:   `{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}]}`,
		bound: `{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}]}`,
		want:  []string{"tcp 127.0.0.1:8080 -> 127.0.0.1:8080 (80) 127.0.0.1:8080:80"},
	}, {
		name:  "-p 0.0.0.0:8080:80 as asked",
		req:   `{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}]}`,
		bound: `{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}]}`,
		want:  []string{"tcp 0.0.0.0:8080 -> 192.168.127.2:8080 (80) 0.0.0.0:8080:80"},
	}, {
		name:  "-p [::1]:8080:80 as asked",
		req:   `{"80/tcp":[{"HostIp":"::1","HostPort":"8080"}]}`,
		bound: `{"80/tcp":[{"HostIp":"::1","HostPort":"8080"}]}`,
		want:  []string{"tcp [::1]:8080 -> [::1]:8080 (80) [::1]:8080:80"},
	}, {
		name:  "-p [::]:8080:80 as asked",
		req:   `{"80/tcp":[{"HostIp":"::","HostPort":"8080"}]}`,
		bound: `{"80/tcp":[{"HostIp":"::","HostPort":"8080"}]}`,
		want:  []string{"tcp [::]:8080 -> [::1]:8080 (80) [::]:8080:80"},
	}, {
		name:  "two bindings of one port: each keeps its own address",
		req:   `{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"9090"},{"HostIp":"","HostPort":"8080"}]}`,
		bound: `{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"9090"},{"HostIp":"0.0.0.0","HostPort":"8080"},{"HostIp":"::","HostPort":"8080"}]}`,
		want: []string{"tcp 0.0.0.0:9090 -> 192.168.127.2:9090 (80) 0.0.0.0:9090:80",
			"tcp 127.0.0.1:8080 -> 192.168.127.2:8080 (80) 8080:80", "tcp [::1]:8080 -> 192.168.127.2:8080 (80) 8080:80"},
	}, {
		name:  "-p 80: the ephemeral port dockerd chose",
		req:   `{"80/tcp":[{"HostIp":"","HostPort":""}]}`,
		bound: `{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"49153"},{"HostIp":"::","HostPort":"49153"}]}`,
		want:  []string{"tcp 127.0.0.1:49153 -> 192.168.127.2:49153 (80) 49153:80", "tcp [::1]:49153 -> 192.168.127.2:49153 (80) 49153:80"},
	}, {
		name:  "-p 127.0.0.1:8000-8010:80 with a port from the range",
		req:   `{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8000-8010"}]}`,
		bound: `{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8003"}]}`,
		want:  []string{"tcp 127.0.0.1:8003 -> 127.0.0.1:8003 (80) 127.0.0.1:8003:80"},
	}, {
		name:  "-P: no PortBindings at all",
		req:   `null`,
		bound: `{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"49154"}]}`,
		want:  []string{"tcp 127.0.0.1:49154 -> 192.168.127.2:49154 (80) 49154:80", "tcp [::1]:49154 -> 192.168.127.2:49154 (80) 49154:80"},
	}, {
		name:  "tcp and udp on one port; exposed-only and sctp ports skipped",
		req:   `{"53/tcp":[{"HostIp":"","HostPort":"5353"}],"53/udp":[{"HostIp":"127.0.0.1","HostPort":"5353"}],"9/sctp":[{"HostIp":"","HostPort":"9"}]}`,
		bound: `{"53/tcp":[{"HostIp":"0.0.0.0","HostPort":"5353"}],"53/udp":[{"HostIp":"127.0.0.1","HostPort":"5353"}],"9/sctp":[{"HostIp":"0.0.0.0","HostPort":"9"}],"443/tcp":null}`,
		want: []string{"tcp 127.0.0.1:5353 -> 192.168.127.2:5353 (53) 5353:53", "tcp [::1]:5353 -> 192.168.127.2:5353 (53) 5353:53",
			"udp 127.0.0.1:5353 -> 127.0.0.1:5353 (53) 127.0.0.1:5353:53/udp"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := `{"Id":"abc","Name":"/web","State":{"Running":true},` +
				`"HostConfig":{"PortBindings":` + tc.req + `},"NetworkSettings":{"Ports":` + tc.bound + `}}`
			var c container
			if err := json.Unmarshal([]byte(raw), &c); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range forwards(&c, "192.168.127.2") {
				if f.Container != "abc" || f.Name != "web" || f.GuestPort != f.HostPort || f.Error != "" {
					t.Errorf("forward %+v: wrong container, guest port or error", f)
				}
				got = append(got, fmt.Sprintf("%s %s -> %s (%d) %s", f.Proto,
					net.JoinHostPort(f.HostIP, strconv.Itoa(f.HostPort)), net.JoinHostPort(f.GuestIP, strconv.Itoa(f.GuestPort)),
					f.ContainerPort, f.Published))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tc.want, "\n\t"))
			}
		})
	}
}

// A binding on an address Berth cannot publish on (made before Berth
// vetted requests, or through another socket) is reported, not listened on.
func TestForwardOnForeignAddressFails(t *testing.T) {
	t.Parallel()
	var c container
	raw := `{"Id":"abc","Name":"/web","HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"10.9.9.9","HostPort":"8080"}]}},` +
		`"NetworkSettings":{"Ports":{"80/tcp":[{"HostIp":"10.9.9.9","HostPort":"8080"}]}}}`
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatal(err)
	}
	fws := forwards(&c, guestIP)
	if len(fws) != 1 || !strings.Contains(fws[0].Error, "cannot publish on 10.9.9.9") {
		t.Fatalf("forwards = %+v, want one with an error", fws)
	}
	f := New(Config{Listen: func(string, string) (net.Listener, error) {
		t.Fatal("listened on a foreign address")
		return nil, nil
	}})
	if fw := f.start(context.Background(), fws[0]); fw.Error != fws[0].Error {
		t.Fatalf("started forward = %+v", fw.Forward)
	}
}
