//go:build unix

package vnet

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
)

// The guest reaches a service the host serves on the gateway's address.
func TestListenGatewayServesTheGuest(t *testing.T) {
	cfg := DefaultConfig()
	n, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	vm, host := socketPair(t, unix.SOCK_STREAM)
	go serveConn(ctx, host, streamFraming, n.link)
	waitAttached(t, n.link)

	l, err := n.ListenGateway(3128)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		io.WriteString(c, "gateway here")
		c.Close()
	}()

	mac, _ := net.ParseMAC(cfg.GuestMAC)
	addr := tcpip.AddrFrom4Slice(cfg.Guest.AsSlice())
	gl := newLink(uint32(cfg.MTU), tcpip.LinkAddress(mac), []tcpip.Address{addr})
	s := bareStack(t, gl, addr, cfg.Subnet.Bits())
	go gl.serve(ctx, vm, streamFraming)
	to := tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4Slice(cfg.Gateway.AsSlice()), Port: 3128}
	c, err := gonet.DialContextTCP(ctx, s, to, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "gateway here" {
		t.Fatalf("read %q, %v", got, err)
	}
}
