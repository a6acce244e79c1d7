// Package portfwd publishes containers' ports on the host. dockerd runs in
// the VM and binds published ports there; the Forwarder follows the engine's
// container events and, for every published port, listens on the same port
// on the host, where the user asked, and carries each connection (or UDP
// flow) to the port dockerd bound in the VM.
//
// A TCP port dockerd bound on the IPv4 wildcard is dialed at the guest's
// address through the virtual network: the engine's own DNAT takes it to
// the container in the kernel. Everything else (a port on the VM's
// loopback, as -p 127.0.0.1:… binds it, IPv6, UDP) is dialed from inside
// the VM by guestd, which the virtual network cannot do: through the
// Dialer, for addresses on the VM's loopback.
package portfwd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/berthvm/berth/netproxy/relay"
)

// Dialer opens a connection to addr ("ip:port") in the guest: the guest's
// own address (TCP only), or one on the VM's loopback, dialed from inside;
// network is "tcp" or "udp". A "udp" connection carries one datagram per
// Write and per Read.
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// Config wires a Forwarder to the VM.
type Config struct {
	Engine  func(ctx context.Context) (net.Conn, error) // a fresh connection to the dockerd HTTP API
	Guest   Dialer
	GuestIP string // the guest's address in the virtual network, e.g. "192.168.127.2"
	Log     *slog.Logger

	// Listen and ListenPacket open host sockets; nil means net.Listen and
	// net.ListenPacket. Tests may override them.
	Listen       func(network, addr string) (net.Listener, error)
	ListenPacket func(network, addr string) (net.PacketConn, error)

	// UDPIdle ends a UDP client's flow after this long without a datagram
	// either way; zero means 60 s, the usual NAT timeout.
	UDPIdle time.Duration
}

// Forward is one host listener for a published port.
type Forward struct {
	Container     string // container ID
	Name          string // container name, without the leading "/"
	Proto         string // "tcp" or "udp"
	HostIP        string // address the host listens on
	HostPort      int
	GuestIP       string // the VM address dialed for it: the guest's, or one on the VM's loopback
	GuestPort     int    // dockerd's published port in the guest
	ContainerPort int    // the port inside the container, for messages
	// Published is the binding as the user asked for it, in docker run -p's
	// words ("127.0.0.1:8080:80", "8080:80" when no address was given,
	// "5353:53/udp"); the listeners of one request share it.
	Published string
	Error     string // why the host side could not be opened, if it could not

	// implied: the user named no address; Berth picked this loopback.
	implied bool
}

// key identifies a host listener: at most one per protocol, address and port.
type key struct {
	proto, hostIP string
	port          int
}

func (fw Forward) key() key { return key{fw.Proto, fw.HostIP, fw.HostPort} }

// same reports whether two forwards with one key carry traffic to the same
// place; a mere rename must not cut the container's connections.
func (fw Forward) same(o Forward) bool {
	return fw.Container == o.Container && fw.GuestIP == o.GuestIP && fw.GuestPort == o.GuestPort
}

// Reconnect backoff for the engine's event stream.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Forwarder keeps host listeners in step with the containers' published
// ports.
type Forwarder struct {
	cfg Config
	log *slog.Logger
	eng *engine

	// open is changed only by Run's goroutine; mu lets Status read it.
	mu   sync.Mutex
	open map[key]*forward
}

// forward is an open (or failed) Forward.
type forward struct {
	Forward
	stop func() // closes the listener and its connections, and waits for them
	// absent: a loopback the host does not have (::1 with IPv6 off), for
	// a port the user published on no address in particular; not shown.
	absent bool
}

// New returns a Forwarder; Run starts it.
func New(cfg Config) *Forwarder {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.UDPIdle <= 0 {
		cfg.UDPIdle = 60 * time.Second
	}
	return &Forwarder{
		cfg:  cfg,
		log:  log.With("component", "portfwd"),
		eng:  newEngine(cfg.Engine),
		open: map[key]*forward{},
	}
}

// Status returns the current forwards, failed ones with their Error.
func (f *Forwarder) Status() []Forward {
	f.mu.Lock()
	out := make([]Forward, 0, len(f.open))
	for _, fw := range f.open {
		if !fw.absent {
			out = append(out, fw.Forward)
		}
	}
	f.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.HostPort != b.HostPort {
			return a.HostPort < b.HostPort
		}
		if a.Proto != b.Proto {
			return a.Proto < b.Proto
		}
		return a.HostIP < b.HostIP
	})
	return out
}

// Run follows the engine until ctx ends, reconnecting with backoff when the
// event stream drops, then closes every forward. It returns nil once ctx
// ends. Call it once.
func (f *Forwarder) Run(ctx context.Context) error {
	defer f.closeAll()
	defer f.eng.close()
	delay := minBackoff
	quiet := false // after one warning, further failed attempts go to debug
	for {
		synced, err := f.watch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case synced:
			delay, quiet = minBackoff, false
			f.log.Warn("lost the engine's event stream; reconnecting", "err", err)
		case !quiet:
			quiet = true
			f.log.Warn("cannot follow the engine's events; retrying", "err", err)
		default:
			f.log.Debug("cannot follow the engine's events; retrying", "err", err, "in", delay)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(2*delay, maxBackoff)
	}
}

// watch subscribes to container events, resyncs, then applies events until
// the stream ends. synced reports whether it got as far as the resync.
func (f *Forwarder) watch(ctx context.Context) (synced bool, err error) {
	body, err := f.eng.events(ctx)
	if err != nil {
		return false, err
	}
	defer body.Close()
	// Subscribing before listing means nothing falls between the two: a
	// container that starts meanwhile shows up twice, which is harmless.
	if err := f.resync(ctx); err != nil {
		return false, err
	}
	dec := json.NewDecoder(body)
	for {
		var ev event
		if err := dec.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) {
				return true, errors.New("engine closed the event stream")
			}
			return true, fmt.Errorf("read engine events: %w", err)
		}
		if err := f.handle(ctx, ev); err != nil {
			return true, err
		}
	}
}

func (f *Forwarder) handle(ctx context.Context, ev event) error {
	if ev.Type != "container" || ev.Actor.ID == "" {
		return nil
	}
	switch ev.Action {
	case "start", "kill":
		// Look rather than assume for "kill": the container may survive the
		// signal (docker kill -s HUP reloads many servers); if not, "die"
		// follows.
		return f.syncContainer(ctx, ev.Actor.ID)
	case "die", "stop", "destroy":
		f.apply(ctx, nil, func(fw Forward) bool { return fw.Container == ev.Actor.ID })
	}
	return nil
}

// resync makes the forwards match every running container's.
func (f *Forwarder) resync(ctx context.Context) error {
	ids, err := f.eng.running(ctx)
	if err != nil {
		return err
	}
	var want []Forward
	for _, id := range ids {
		c, err := f.eng.inspect(ctx, id)
		if errors.Is(err, errNotFound) {
			continue // removed since the listing
		}
		if err != nil {
			return err
		}
		if isUp(c) {
			want = append(want, forwards(c, f.cfg.GuestIP)...)
		}
	}
	f.apply(ctx, want, func(Forward) bool { return true })
	return nil
}

// syncContainer makes one container's forwards match its current state.
func (f *Forwarder) syncContainer(ctx context.Context, id string) error {
	c, err := f.eng.inspect(ctx, id)
	if err != nil && !errors.Is(err, errNotFound) {
		return err
	}
	var want []Forward
	if err == nil && isUp(c) {
		want = forwards(c, f.cfg.GuestIP)
	}
	f.apply(ctx, want, func(fw Forward) bool { return fw.Container == id })
	return nil
}

// isUp reports whether a container's ports are bound: while it restarts,
// dockerd has released them.
func isUp(c *container) bool { return c.State.Running && !c.State.Restarting }

// apply opens the wanted forwards that are not open, and closes the open
// ones in scope that are not wanted. Failed forwards are retried: the port
// may have been freed since.
func (f *Forwarder) apply(ctx context.Context, want []Forward, scope func(Forward) bool) {
	wanted := make(map[key]Forward, len(want))
	for _, fw := range want {
		if _, dup := wanted[fw.key()]; dup {
			f.log.Warn("two containers publish the same host port; keeping the first",
				"container", fw.Name, "proto", fw.Proto, "host", net.JoinHostPort(fw.HostIP, strconv.Itoa(fw.HostPort)))
			continue
		}
		wanted[fw.key()] = fw
	}
	f.mu.Lock()
	var stale []*forward
	for k, cur := range f.open {
		w, ok := wanted[k]
		if (!ok && scope(cur.Forward)) || (ok && (!cur.same(w) || cur.Error != "")) {
			stale = append(stale, cur)
			delete(f.open, k)
		}
	}
	f.mu.Unlock()
	// Close before opening: a replaced forward must free its port first.
	for _, cur := range stale {
		cur.stop()
		if cur.Error == "" {
			f.log.Info("stopped forwarding", "container", cur.Name, "proto", cur.Proto,
				"host", net.JoinHostPort(cur.HostIP, strconv.Itoa(cur.HostPort)))
		}
	}
	for _, w := range want {
		f.mu.Lock()
		_, ok := f.open[w.key()]
		f.mu.Unlock()
		if ok {
			continue
		}
		fw := f.start(ctx, w)
		f.mu.Lock()
		f.open[w.key()] = fw
		f.mu.Unlock()
	}
}

func (f *Forwarder) closeAll() {
	f.mu.Lock()
	all := f.open
	f.open = map[key]*forward{}
	f.mu.Unlock()
	for _, fw := range all {
		fw.stop()
	}
}

// start opens the host side of fw. A failure is recorded in the forward,
// not returned: the other ports keep working and status shows what failed.
func (f *Forwarder) start(ctx context.Context, fw Forward) *forward {
	host := net.JoinHostPort(fw.HostIP, strconv.Itoa(fw.HostPort))
	guest := net.JoinHostPort(fw.GuestIP, strconv.Itoa(fw.GuestPort))
	log := f.log.With("container", fw.Name, "proto", fw.Proto, "host", host, "guest", guest)
	if fw.Error != "" { // known unpublishable, see forwards
		log.Warn("cannot publish the container's port on the host", "err", fw.Error)
		return &forward{Forward: fw, stop: func() {}}
	}

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	closer, err := f.listen(ctx, &wg, fw, host, guest, log)
	if err != nil {
		cancel()
		if fw.implied && (errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EAFNOSUPPORT)) {
			log.Debug("the host has no such loopback address; the port is published on the other", "err", err)
			return &forward{Forward: fw, stop: func() {}, absent: true}
		}
		fw.Error = err.Error()
		if errors.Is(err, syscall.EADDRINUSE) {
			fw.Error = fmt.Sprintf("host port %s/%s is already in use: free it, or publish the container on another host port", host, fw.Proto)
			log.Warn("cannot publish the container's port: the host port is already in use; "+
				"free it, or run the container with another host port",
				"hint", fmt.Sprintf("-p <another port>:%d/%s", fw.ContainerPort, fw.Proto), "err", err)
		} else {
			log.Warn("cannot publish the container's port on the host", "err", err)
		}
		return &forward{Forward: fw, stop: func() {}}
	}
	log.Info("forwarding")
	return &forward{Forward: fw, stop: func() {
		cancel()       // ends the forward's connections
		closer.Close() // frees the port now, not when a goroutine gets to it
		wg.Wait()
	}}
}

// listen opens the host socket for fw and starts serving it.
func (f *Forwarder) listen(ctx context.Context, wg *sync.WaitGroup, fw Forward, host, guest string, log *slog.Logger) (io.Closer, error) {
	ip, err := netip.ParseAddr(fw.HostIP)
	if err != nil {
		return nil, fmt.Errorf("host address %q: %w", fw.HostIP, err)
	}
	// Name the family: Go would otherwise listen on both for a wildcard,
	// and the user asked for exactly this address.
	network := fw.Proto + "6"
	if ip.Is4() {
		network = fw.Proto + "4"
	}
	switch fw.Proto {
	case "tcp":
		l, err := f.listenTCP(network, host)
		if err != nil {
			return nil, err
		}
		wg.Go(func() {
			relay.Forward(ctx, l, func(ctx context.Context) (net.Conn, error) {
				return f.cfg.Guest(ctx, "tcp", guest)
			}, relay.Join, log)
		})
		return l, nil
	case "udp":
		pc, err := f.listenUDP(network, host)
		if err != nil {
			return nil, err
		}
		wg.Go(func() { f.serveUDP(ctx, pc, guest, log) })
		return pc, nil
	}
	return nil, fmt.Errorf("protocol %q: not supported", fw.Proto)
}

func (f *Forwarder) listenTCP(network, addr string) (net.Listener, error) {
	if f.cfg.Listen != nil {
		return f.cfg.Listen(network, addr)
	}
	return net.Listen(network, addr)
}

func (f *Forwarder) listenUDP(network, addr string) (net.PacketConn, error) {
	if f.cfg.ListenPacket != nil {
		return f.cfg.ListenPacket(network, addr)
	}
	return net.ListenPacket(network, addr)
}
