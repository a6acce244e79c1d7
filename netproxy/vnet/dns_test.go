//go:build unix

package vnet

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
)

// fixedUpstream answers every name with 10.0.0.7.
type fixedUpstream struct{}

func (fixedUpstream) Exchange(_ context.Context, q *dns.Msg) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 600}, A: net.IPv4(10, 0, 0, 7)}}
	return m, nil
}

// The guest reaches Berth's DNS on the gateway over UDP and TCP: Berth's
// own names from its zones, the rest from the upstream it was given.
func TestGatewayServesDNS(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DNS = fixedUpstream{}
	n, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	vm, host := socketPair(t, unix.SOCK_STREAM)
	go serveConn(ctx, host, streamFraming, n.link)
	waitAttached(t, n.link)
	mac, _ := net.ParseMAC(cfg.GuestMAC)
	addr := tcpip.AddrFrom4Slice(cfg.Guest.AsSlice())
	l := newLink(uint32(cfg.MTU), tcpip.LinkAddress(mac), []tcpip.Address{addr})
	s := bareStack(t, l, addr, cfg.Subnet.Bits())
	go l.serve(ctx, vm, streamFraming)

	gw := tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4Slice(cfg.Gateway.AsSlice()), Port: 53}
	ask := func(c net.Conn, name string, tcp bool) *dns.Msg {
		t.Helper()
		q := new(dns.Msg)
		q.SetQuestion(name, dns.TypeA)
		co := &dns.Conn{Conn: c}
		c.SetDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck // a failed deadline fails the read
		if err := co.WriteMsg(q); err != nil {
			t.Fatal(err)
		}
		r, err := co.ReadMsg()
		if err != nil {
			t.Fatalf("%s (tcp=%v): %v", name, tcp, err)
		}
		return r
	}
	tc, err := gonet.DialContextTCP(ctx, s, gw, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	uc, err := gonet.DialUDP(s, &tcpip.FullAddress{NIC: 1, Addr: addr}, &gw, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	for name, want := range map[string]string{"host.docker.internal.": cfg.HostAlias.String(), "gateway.berth.internal.": cfg.Gateway.String(), "example.com.": "10.0.0.7"} {
		for _, c := range []struct {
			conn net.Conn
			tcp  bool
		}{{tc, true}, {uc, false}} {
			if r := ask(c.conn, name, c.tcp); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != want || r.Answer[0].Header().Ttl > 30 {
				t.Errorf("%s (tcp=%v): %v", name, c.tcp, r)
			}
		}
	}
}
