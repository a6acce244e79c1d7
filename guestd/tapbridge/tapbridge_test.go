//go:build linux

package tapbridge

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthvm/berth/guestd/netconf"
	"github.com/berthvm/berth/internal/netnstest"
	"github.com/berthvm/berth/netproxy/vnet"
)

// streamPair is a SOCK_STREAM socket pair: the guest's end as a pollable
// file (as DialVsock returns), the host's as a net.Conn.
func streamPair(t *testing.T) (*os.File, net.Conn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	hf := os.NewFile(uintptr(fds[1]), "host")
	defer hf.Close()
	host, err := net.FileConn(hf)
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fds[0]), "guest"), host
}

// In a network namespace standing in for the guest (root only), a tap
// device configured as guestd configures eth0 is bridged over a socket pair
// (vsock's stand-in) to the host's real virtual network: TCP flows both
// ways through it, and again after the link drops and Serve redials.
func TestTapBridgeCarriesTheGuestsTraffic(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	n, err := vnet.New(vnet.DefaultConfig(), log)
	if err != nil {
		t.Fatal(err)
	}
	cfg := n.Config()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// A host service, reached from the guest as host.docker.internal.
	hostL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hostL.Close()
	go echo(hostL)

	netnstest.Enter(t)
	tap, err := OpenTap("eth0")
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	if err := netconf.Up(netconf.Interface{
		Name: "eth0", Address: netip.PrefixFrom(cfg.Guest, cfg.Subnet.Bits()), Gateway: cfg.Gateway, MTU: cfg.MTU,
	}, time.Second); err != nil {
		t.Fatal(err)
	}
	guestL, err := net.Listen("tcp", ":8080") // a service in the guest
	if err != nil {
		t.Fatal(err)
	}
	defer guestL.Close()
	go echo(guestL)

	// Each dial is a new link, its host end served by the virtual network;
	// dropLink cuts the current one from the host's side.
	links := make(chan net.Conn, 4)
	dial := func() (io.ReadWriteCloser, error) {
		guest, host := streamPair(t)
		links <- host
		go n.ServeStream(ctx, host)
		return guest, nil
	}
	go Serve(ctx, tap, dial, log)

	exchange := func(what string, c net.Conn, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		// 1 MiB: hundreds of frames each way, past any buffer.
		want := make([]byte, 1<<20)
		rand.Read(want)
		go func() { c.Write(want); c.(interface{ CloseWrite() error }).CloseWrite() }()
		got, err := io.ReadAll(c)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: echoed %d of %d bytes intact (%v)", what, len(got), len(want), err)
		}
	}
	for round := 1; round <= 2; round++ {
		c, err := n.DialGuest(ctx, 8080)
		exchange(fmt.Sprintf("round %d: host → guest", round), c, err)
		// Dialed on this thread: from inside the guest's namespace.
		hostPort := hostL.Addr().(*net.TCPAddr).Port
		c, err = net.DialTimeout("tcp", net.JoinHostPort(cfg.HostAlias.String(), fmt.Sprint(hostPort)), 10*time.Second)
		exchange(fmt.Sprintf("round %d: guest → host", round), c, err)
		(<-links).Close() // the host drops the link; Serve must dial again
	}
}

func echo(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			io.Copy(c, c)
			c.(*net.TCPConn).CloseWrite()
			c.Close()
		}()
	}
}

// A length past any frame means the stream lost its framing: the pump
// stops rather than write garbage to the tap.
func TestPumpRefusesAnOversizedLength(t *testing.T) {
	link, peer := streamPair(t)
	defer peer.Close()
	tap := &fakeTap{deadline: make(chan struct{})}
	go peer.Write([]byte{0, 0x10, 0, 0}) // 1 MiB
	err := Pump(context.Background(), tap, link)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("lost its framing")) {
		t.Fatalf("err = %v", err)
	}
}

// fakeTap never has a frame to read; reads end at the deadline.
type fakeTap struct{ deadline chan struct{} }

func (f *fakeTap) Read([]byte) (int, error) {
	<-f.deadline
	return 0, os.ErrDeadlineExceeded
}
func (f *fakeTap) Write(p []byte) (int, error) { return len(p), nil }
func (f *fakeTap) SetReadDeadline(t time.Time) error {
	if !t.IsZero() {
		close(f.deadline)
	}
	return nil
}
