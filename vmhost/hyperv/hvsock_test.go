package hyperv

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fakeHvHost encodes Hyper-V sockets' binding rules: a VM may connect only
// to a registered service ("Make your own integration services": the
// registration under GuestCommunicationServices is the permission), a
// listener bound to the wildcard VM holds its service for every VM, one
// bound to a VM ID holds it for that VM, and a connection goes to the
// listener bound to its VM, else to the wildcard's.
type fakeHvHost struct {
	mu         sync.Mutex
	registered map[string]bool
	bound      map[hvAddr]*fakeHvListener
}

var errAddrInUse = errors.New("bind: address already in use (WSAEADDRINUSE)")

func newFakeHvHost() *fakeHvHost {
	h := &fakeHvHost{registered: map[string]bool{}, bound: map[hvAddr]*fakeHvListener{}}
	for _, k := range ServiceKeys() { // what the installer's `berth setup` registers
		h.registered[ServiceID(k.Port)] = true
	}
	return h
}

func (h *fakeHvHost) listen(a hvAddr) (net.Listener, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for b := range h.bound {
		if b.Service == a.Service && (b.VM == a.VM || b.VM == wildcardVM || a.VM == wildcardVM) {
			return nil, errAddrInUse
		}
	}
	l := &fakeHvListener{host: h, addr: a, conns: make(chan net.Conn, 4), done: make(chan struct{})}
	h.bound[a] = l
	return l, nil
}

// dial connects from the guest vm to the service for port.
func (h *fakeHvHost) dial(vm string, port uint32) (net.Conn, error) {
	svc := ServiceID(port)
	h.mu.Lock()
	if !h.registered[svc] {
		h.mu.Unlock()
		return nil, errors.New("connect: the service is not registered")
	}
	l := h.bound[hvAddr{VM: vm, Service: svc}]
	if l == nil {
		l = h.bound[hvAddr{VM: wildcardVM, Service: svc}]
	}
	h.mu.Unlock()
	if l == nil {
		return nil, errors.New("connect: refused")
	}
	guest, host := net.Pipe()
	select {
	case l.conns <- peerConn{host, vmAddr(vm)}:
		return guest, nil
	case <-l.done:
		return nil, errors.New("connect: refused")
	}
}

type fakeHvListener struct {
	host  *fakeHvHost
	addr  hvAddr
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func (l *fakeHvListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *fakeHvListener) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.host.mu.Lock()
		delete(l.host.bound, l.addr)
		l.host.mu.Unlock()
	})
	return nil
}

func (l *fakeHvListener) Addr() net.Addr { return vmAddr(l.addr.VM) }

// Two Windows users' machines serve their links at once, each VM reaching
// only its own daemon's: the ports are the same for every machine (the
// boot disk fixes them), the VM IDs are not.
func TestTwoUsersMachinesListenAtOnce(t *testing.T) {
	host := newFakeHvHost()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	vms := map[string]string{ // VM ID -> the options its daemon serves
		"5c1e0001-0000-4000-8000-00000000000a": "ann's options",
		"5c1e0001-0000-4000-8000-00000000000b": "bob's options",
	}
	for id, opts := range vms {
		p := plan{Name: "berth-" + id[len(id)-1:], Options: opts, SerialLog: filepath.Join(t.TempDir(), "serial.log"),
			Shares: []share{{Port: SharePortBase}}}
		p.Shares[0].HostPath = t.TempDir()
		listen := func(port uint32) (net.Listener, error) {
			l, err := host.listen(bindAddr(id, port))
			if err != nil {
				return nil, err
			}
			return fromVM{Listener: l, vmID: id, peer: func(a net.Addr) string { return string(a.(vmAddr)) }, log: slog.New(slog.DiscardHandler)}, nil
		}
		if err := serveLinks(ctx, p, recordingNetwork{got: make(chan string, 1)}, listen, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatalf("%s's daemon cannot listen: %v", opts, err)
		}
	}
	for id, opts := range vms {
		c, err := host.dial(id, ConfigPort)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil || string(got) != opts {
			t.Errorf("VM %s got %q (%v), want %q", id, got, err, opts)
		}
	}
	// A VM of neither user reaches no one's links.
	if _, err := host.dial("5c1e0001-0000-4000-8000-00000000000c", ConfigPort); err == nil {
		t.Error("a third VM reached a daemon")
	}
}

// The rule the fake encodes: the wildcard holds a service for the whole
// host, which is why the links bind their VM.
func TestWildcardHoldsTheService(t *testing.T) {
	host := newFakeHvHost()
	if _, err := host.listen(hvAddr{VM: wildcardVM, Service: ServiceID(ConfigPort)}); err != nil {
		t.Fatal(err)
	}
	if _, err := host.listen(bindAddr("5C1E0001-0000-4000-8000-00000000000A", ConfigPort)); !errors.Is(err, errAddrInUse) {
		t.Fatalf("bound beside the wildcard: %v", err)
	}
	if a := bindAddr("5C1E0001-0000-4000-8000-00000000000A", ConfigPort); a.VM == wildcardVM || a.VM != "5c1e0001-0000-4000-8000-00000000000a" {
		t.Fatalf("bindAddr = %+v", a)
	}
}
