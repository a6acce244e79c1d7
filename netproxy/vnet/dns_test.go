//go:build unix

package vnet

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/berthvm/berth/netproxy/hostdns"
)

// fixedUpstream answers every name with 10.0.0.7.
type fixedUpstream struct{}

func (fixedUpstream) Exchange(_ context.Context, q *dns.Msg) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetReply(q)
	if q.Question[0].Name == "big." { // ~3,700 bytes: IP fragments at MTU 1500
		for i := range 60 {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: "big.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{fmt.Sprintf("%02d%s", i, strings.Repeat("x", 50))}})
		}
		return m, nil
	}
	m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 600}, A: net.IPv4(10, 0, 0, 7)}}
	return m, nil
}

// guestDNS attaches a stand-in guest to n and returns its UDP and TCP
// connections to the gateway's DNS.
func guestDNS(t testing.TB, ctx context.Context, n *Network) (udpc, tcpc net.Conn) {
	t.Helper()
	cfg := n.cfg
	vm, host := socketPair(t, unix.SOCK_STREAM)
	go serveConn(ctx, host, streamFraming, n.link)
	waitAttached(t, n.link)
	mac, _ := net.ParseMAC(cfg.GuestMAC)
	addr := tcpip.AddrFrom4Slice(cfg.Guest.AsSlice())
	l := newLink(uint32(cfg.MTU), tcpip.LinkAddress(mac), []tcpip.Address{addr})
	s := bareStack(t, l, addr, cfg.Subnet.Bits())
	go l.serve(ctx, vm, streamFraming)
	gw := tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4Slice(cfg.Gateway.AsSlice()), Port: 53}
	tc, err := gonet.DialContextTCP(ctx, s, gw, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	uc, err := gonet.DialUDP(s, &tcpip.FullAddress{NIC: 1, Addr: addr}, &gw, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uc.Close() })
	return uc, tc
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
	uc, tc := guestDNS(t, ctx, n)
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
	// An answer bigger than the link's MTU reaches a UDP client that
	// announced room for it (in IP fragments).
	for _, mtu := range []int{1500, 65520} {
		t.Run(fmt.Sprintf("udp big answer at MTU %d", mtu), func(t *testing.T) {
			c := DefaultConfig()
			c.MTU, c.DNS = mtu, fixedUpstream{}
			n, err := New(c, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			uc, _ := guestDNS(t, ctx, n)
			q := new(dns.Msg)
			q.SetQuestion("big.", dns.TypeTXT)
			q.SetEdns0(4096, false)
			co := &dns.Conn{Conn: uc, UDPSize: 4096}
			uc.SetDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck // a failed deadline fails the read
			if err := co.WriteMsg(q); err != nil {
				t.Fatal(err)
			}
			r, err := co.ReadMsg()
			if err != nil {
				t.Fatal(err)
			}
			if r.Truncated || len(r.Answer) != 60 {
				t.Errorf("TC=%v, %d records", r.Truncated, len(r.Answer))
			}
		})
	}
}

// TestDNSLatency compares a query from the guest's side of the virtual
// network (its own stack, the link, the gateway's server, forwarding) with
// the same query sent from the host straight to the resolver: 1,000 each,
// interleaved. BERTH_DNS_BENCH=1 runs it (not part of `make test`).
func TestDNSLatency(t *testing.T) {
	if os.Getenv("BERTH_DNS_BENCH") == "" {
		t.Skip("BERTH_DNS_BENCH=1 runs the latency comparison")
	}
	// The resolver: a real DNS server on the host's loopback.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(10, 0, 0, 7)}}
		w.WriteMsg(m) //nolint:errcheck // test server
	})}
	go srv.ActivateAndServe() //nolint:errcheck // ends at Shutdown
	defer srv.Shutdown()      //nolint:errcheck // test cleanup
	port := uint16(pc.LocalAddr().(*net.UDPAddr).Port)
	rc := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(rc, []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	up, err := hostdns.NewFiles(hostdns.FilesConfig{ResolvConf: rc, Hosts: "/nonexistent", Port: port})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.DNS = up
	n, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	uc, _ := guestDNS(t, ctx, n)
	guest := &dns.Conn{Conn: uc}
	q := new(dns.Msg)
	q.SetQuestion("example.com.", dns.TypeA)
	viaBerth := func() error {
		uc.SetDeadline(time.Now().Add(2 * time.Second)) //nolint:errcheck // a failed deadline fails the read
		q.Id = dns.Id()
		if err := guest.WriteMsg(q); err != nil {
			return err
		}
		_, err := guest.ReadMsg()
		return err
	}
	c := dns.Client{Timeout: 2 * time.Second}
	direct := func() error {
		_, _, err := c.Exchange(q, pc.LocalAddr().String())
		return err
	}
	for range 50 {
		viaBerth() //nolint:errcheck // warm-up
		direct()   //nolint:errcheck // warm-up
	}
	const count = 1000
	var via, straight []time.Duration
	for range count {
		for _, p := range []struct {
			f   func() error
			out *[]time.Duration
		}{{viaBerth, &via}, {direct, &straight}} {
			start := time.Now()
			if err := p.f(); err != nil {
				t.Fatal(err)
			}
			*p.out = append(*p.out, time.Since(start))
		}
	}
	pct := func(d []time.Duration, p int) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[min(len(s)-1, len(s)*p/100)].Round(time.Microsecond)
	}
	t.Logf("DNS latency, %d UDP queries each: guest through Berth's virtual network median %v p99 %v; host direct to the resolver median %v p99 %v; ratio median %.2fx p99 %.2fx",
		count, pct(via, 50), pct(via, 99), pct(straight, 50), pct(straight, 99),
		float64(pct(via, 50))/float64(pct(straight, 50)), float64(pct(via, 99))/float64(pct(straight, 99)))
}
