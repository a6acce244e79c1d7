//go:build unix

package vnet

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/containers/gvisor-tap-vsock/pkg/tap"
	"github.com/containers/gvisor-tap-vsock/pkg/types"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/berthvm/berth/netproxy/relay"
)

// bareStack is a gvisor stack with TCP tuned as the virtual network's, one
// NIC and one address: the VM's kernel in these tests, or a gateway
// without the network's services.
func bareStack(t testing.TB, ep stack.LinkEndpoint, addr tcpip.Address, prefix int) *stack.Stack {
	t.Helper()
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
	})
	t.Cleanup(s.Destroy)
	if err := tuneTCP(s); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateNIC(1, ep); err != nil {
		t.Fatal(err)
	}
	if err := s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: addr, PrefixLen: prefix}}, stack.AddressProperties{}); err != nil {
		t.Fatal(err)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: 1}})
	return s
}

// guest starts a stand-in for the VM's kernel on conn, the VM's end of the
// link, with an echo or sink server behind port.
func guest(t testing.TB, ctx context.Context, cfg Config, conn net.Conn, fr framing, port uint16, serve func(net.Conn)) {
	t.Helper()
	mac, _ := net.ParseMAC(cfg.GuestMAC)
	addr := tcpip.AddrFrom4Slice(cfg.Guest.AsSlice())
	l := newLink(uint32(cfg.MTU), tcpip.LinkAddress(mac), []tcpip.Address{addr})
	s := bareStack(t, l, addr, cfg.Subnet.Bits())
	go l.serve(ctx, conn, fr)
	ln, err := gonet.ListenTCP(s, tcpip.FullAddress{NIC: 1, Addr: addr, Port: port}, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	context.AfterFunc(ctx, func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
}

// waitAttached returns once l has a VM connection: frames sent before are
// dropped (as by a NIC without a cable), and a lost first ARP request would
// cost a test a one-second retransmission.
func waitAttached(t testing.TB, l *link) {
	t.Helper()
	for range 1000 {
		l.mu.Lock()
		up := l.conn != nil
		l.mu.Unlock()
		if up {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the link has no VM connection after 1 s")
}

// A TCP connection from the host to a guest port carries data both ways
// intact, in large frames over a stream and in small ones as datagrams.
func TestLinkCarriesTCP(t *testing.T) {
	for _, c := range []struct {
		name string
		typ  int
		fr   framing
		mtu  int
	}{
		{"stream", unix.SOCK_STREAM, streamFraming, 65520},
		{"datagram", unix.SOCK_DGRAM, datagramFraming, 1500},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.MTU = c.mtu
			n, err := New(cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			vm, host := socketPair(t, c.typ)
			go serveConn(ctx, host, c.fr, n.link)
			waitAttached(t, n.link)
			guest(t, ctx, cfg, vm, c.fr, 80, func(c net.Conn) {
				io.Copy(c, c)
				relay.CloseWrite(c)
			})

			conn, err := n.DialGuest(ctx, 80)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			sent := make([]byte, 8<<20)
			rand.Read(sent)
			go func() {
				conn.Write(sent)
				relay.CloseWrite(conn)
			}()
			got, err := io.ReadAll(conn)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, sent) {
				t.Fatalf("echoed %d bytes, not the %d sent", len(got), len(sent))
			}
		})
	}
}

// The gateway answers ARP for its own address and the host's alias, not
// for others (its NIC is promiscuous, so the stack alone would claim the
// guest's own address too).
func TestLinkAnswersARPOnlyForItsAddresses(t *testing.T) {
	n := newTestNetwork(t)
	vm, host := socketPair(t, unix.SOCK_DGRAM)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.ServeDatagram(ctx, host)
	other := netip.MustParseAddr("192.168.127.50")
	// Frames are answered in order: the gateway's reply comes last.
	for _, a := range []netip.Addr{other, n.cfg.Guest, n.cfg.HostAlias, n.cfg.Gateway} {
		if _, err := vm.Write(arpRequest(n.cfg, a)); err != nil {
			t.Fatal(err)
		}
	}
	answered := map[netip.Addr]bool{}
	buf := make([]byte, 2048)
	vm.SetReadDeadline(time.Now().Add(5 * time.Second))
	for !answered[n.cfg.Gateway] {
		k, err := vm.Read(buf)
		if err != nil {
			t.Fatalf("no ARP reply for the gateway: %v", err)
		}
		if a, ok := arpReplyFor(buf[:k]); ok {
			answered[a] = true
		}
	}
	if !answered[n.cfg.HostAlias] {
		t.Errorf("no ARP reply for the host's alias %s", n.cfg.HostAlias)
	}
	for _, a := range []netip.Addr{other, n.cfg.Guest} {
		if answered[a] {
			t.Errorf("the gateway claimed %s", a)
		}
	}
}

// A frame longer than any MTU the link carries ends the connection: the
// stream is out of step and nothing after it can be read as frames.
func TestLinkRefusesOversizedFrame(t *testing.T) {
	n := newTestNetwork(t)
	vm, host := socketPair(t, unix.SOCK_STREAM)
	done := make(chan error, 1)
	go func() { done <- n.ServeStream(context.Background(), host) }()
	if _, err := vm.Write([]byte{0, 2, 0, 0}); err != nil { // 131,072 bytes
		t.Fatal(err)
	}
	if err := <-done; err == nil || !bytes.Contains([]byte(err.Error()), []byte("131072 bytes")) {
		t.Fatalf("ServeStream = %v, want an error naming the frame's length", err)
	}
}

// blastServer is the guest's end of a benchmark transfer: it takes an
// upload and answers with its length, or sends the length it is asked for.
func blastServer(dir string) func(net.Conn) {
	return func(c net.Conn) {
		if dir == "upload" {
			n, _ := io.Copy(io.Discard, c)
			fmt.Fprintf(c, "%d", n)
			return
		}
		var n int64
		fmt.Fscan(c, &n)
		io.Copy(c, io.LimitReader(zeroReader{}, n))
	}
}

// blast moves b.N MiB over conn to or from blastServer, timed.
func blast(b *testing.B, conn net.Conn, dir string) {
	const chunk = 1 << 20
	buf := make([]byte, chunk)
	b.SetBytes(chunk)
	b.ReportAllocs()
	b.ResetTimer()
	if dir == "upload" {
		for range b.N {
			if _, err := conn.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		relay.CloseWrite(conn)
		var n int
		fmt.Fscan(conn, &n)
		if n != b.N*chunk {
			b.Fatalf("guest received %d bytes, want %d", n, b.N*chunk)
		}
		return
	}
	fmt.Fprintf(conn, "%d\n", b.N*chunk)
	n, err := io.CopyBuffer(io.Discard, conn, buf)
	if err != nil && !errors.Is(err, io.EOF) {
		b.Fatal(err)
	}
	if n != int64(b.N*chunk) {
		b.Fatalf("received %d bytes, want %d", n, b.N*chunk)
	}
}

// BenchmarkLink moves data from the gateway's stack into a guest stack and
// back out over a stream link with 64 KiB frames: the network's link beside
// gvisor-tap-vsock's switch, in one run (go test -bench . -benchmem
// ./netproxy/).
func BenchmarkLink(b *testing.B) {
	cfg := DefaultConfig()
	cfg.MTU = 65520
	gwMAC, _ := net.ParseMAC("5a:94:ef:e4:0c:dd")
	gwAddr := tcpip.AddrFrom4Slice(cfg.Gateway.AsSlice())
	gateways := []struct {
		name  string
		start func(b *testing.B, ctx context.Context, host net.Conn) *stack.Stack
	}{
		{"link", func(b *testing.B, ctx context.Context, host net.Conn) *stack.Stack {
			l := newLink(uint32(cfg.MTU), tcpip.LinkAddress(gwMAC), []tcpip.Address{gwAddr})
			s := bareStack(b, l, gwAddr, cfg.Subnet.Bits())
			go serveConn(ctx, host, streamFraming, l)
			waitAttached(b, l)
			return s
		}},
		{"switch", func(b *testing.B, ctx context.Context, host net.Conn) *stack.Stack {
			ep, err := tap.NewLinkEndpoint(false, uint32(cfg.MTU), gwMAC.String(), cfg.Gateway.String(), nil)
			if err != nil {
				b.Fatal(err)
			}
			sw := tap.NewSwitch(false)
			ep.Connect(sw)
			sw.Connect(ep)
			s := bareStack(b, ep, gwAddr, cfg.Subnet.Bits())
			go sw.Accept(ctx, host, types.QemuProtocol)
			return s
		}},
	}
	for _, dir := range []string{"upload", "download"} {
		for _, gw := range gateways {
			b.Run(dir+"/"+gw.name, func(b *testing.B) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				vm, host := socketPair(b, unix.SOCK_STREAM)
				s := gw.start(b, ctx, host)
				guest(b, ctx, cfg, vm, streamFraming, 80, blastServer(dir))
				conn, err := gonet.DialContextTCP(ctx, s, tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4Slice(cfg.Guest.AsSlice()), Port: 80}, ipv4.ProtocolNumber)
				if err != nil {
					b.Fatal(err)
				}
				defer conn.Close()
				blast(b, conn, dir)
			})
		}
	}
}

// BenchmarkForward is a published port's whole path on the host: a
// loopback TCP connection, Forward and Join, the virtual network, and a
// guest stack; Join beside a join with io.Copy's own 32 KiB buffers, in one
// run.
func BenchmarkForward(b *testing.B) {
	joins := []struct {
		name string
		join relay.JoinFunc
	}{
		{"Join", relay.Join},
		{"io.Copy", func(ctx context.Context, a, c net.Conn) {
			done := make(chan struct{})
			go func() {
				io.Copy(a, c)
				relay.CloseWrite(a)
				close(done)
			}()
			io.Copy(c, a)
			relay.CloseWrite(c)
			<-done
		}},
	}
	for _, dir := range []string{"upload", "download"} {
		for _, j := range joins {
			b.Run(dir+"/"+j.name, func(b *testing.B) {
				cfg := DefaultConfig()
				cfg.MTU = 65520
				n, err := New(cfg, slog.New(slog.DiscardHandler))
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				vm, host := socketPair(b, unix.SOCK_STREAM)
				go serveConn(ctx, host, streamFraming, n.link)
				waitAttached(b, n.link)
				guest(b, ctx, cfg, vm, streamFraming, 80, blastServer(dir))
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				go relay.Forward(ctx, l, func(ctx context.Context) (net.Conn, error) { return n.DialGuest(ctx, 80) }, j.join, slog.New(slog.DiscardHandler))
				conn, err := net.Dial("tcp", l.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				defer conn.Close()
				blast(b, conn, dir)
			})
		}
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
