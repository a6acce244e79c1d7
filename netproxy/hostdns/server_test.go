package hostdns

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// upstreamZone is what the test's upstream server knows.
const upstreamZone = `
a.test.          300 IN A     10.0.0.1
a.test.          300 IN AAAA  fd00::1
c.test.          300 IN CNAME a.test.
mx.test.         300 IN MX    10 mail.a.test.
ns.test.         300 IN NS    ns1.a.test.
_x._tcp.test.    300 IN SRV   1 2 8080 a.test.
txt.test.        300 IN TXT   "hello" "world"
1.0.0.10.in-addr.arpa. 300 IN PTR a.test.
https.test.      300 IN HTTPS 1 . alpn="h2,h3" port=443
svcb.test.       300 IN SVCB  1 svc.a.test. port=8443
caa.test.        300 IN CAA   0 issue "letsencrypt.org"
short.test.      5   IN A     10.0.0.5
app.corp.example. 300 IN A    10.9.0.1
`

// upstream is a real DNS server on 127.0.0.1 (UDP and TCP, one port).
type upstream struct {
	port    uint16
	queries atomic.Int32
	tcp     atomic.Int32
	// sawOPT says whether the last query carried EDNS0, sawCookie a cookie.
	sawOPT, sawCookie atomic.Bool
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	rrs := map[string][]dns.RR{}
	zp := dns.NewZoneParser(strings.NewReader(upstreamZone), "", "")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		k := dns.CanonicalName(rr.Header().Name)
		rrs[k] = append(rrs[k], rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatal(err)
	}
	// big.test: TXT records far beyond 1232 bytes.
	for i := range 40 {
		rrs["big.test."] = append(rrs["big.test."], &dns.TXT{Hdr: dns.RR_Header{Name: "big.test.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{strings.Repeat("x", 60) + string(rune('a'+i%26))}})
	}
	u := &upstream{}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		u.queries.Add(1)
		_, isTCP := w.RemoteAddr().(*net.TCPAddr)
		if isTCP {
			u.tcp.Add(1)
		}
		opt := r.IsEdns0()
		u.sawOPT.Store(opt != nil)
		u.sawCookie.Store(false)
		if opt != nil {
			for _, o := range opt.Option {
				if o.Option() == dns.EDNS0COOKIE {
					u.sawCookie.Store(true)
				}
			}
		}
		q := r.Question[0]
		name := dns.CanonicalName(q.Name)
		if name == "garbage.test." {
			w.Write([]byte{0xde, 0xad, 0xbe, 0xef}) //nolint:errcheck // the test upstream's garbage
			return
		}
		m := new(dns.Msg)
		m.SetReply(r)
		known := false
		for _, rr := range rrs[name] {
			known = true
			if rr.Header().Rrtype == q.Qtype || rr.Header().Rrtype == dns.TypeCNAME {
				rr = dns.Copy(rr)
				rr.Header().Name = q.Name
				m.Answer = append(m.Answer, rr)
			}
		}
		if !known {
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 3600}, Ns: "ns.test.", Mbox: "h.test.", Minttl: 3600}}
		}
		if opt != nil {
			m.SetEdns0(opt.UDPSize(), false)
		}
		if !isTCP {
			size := dns.MinMsgSize
			if opt != nil {
				size = int(opt.UDPSize())
			}
			m.Truncate(size)
		}
		w.WriteMsg(m) //nolint:errcheck // test server
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.port = uint16(pc.LocalAddr().(*net.UDPAddr).Port)
	l, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	us := &dns.Server{PacketConn: pc, Handler: h}
	ts := &dns.Server{Listener: l, Handler: h}
	go us.ActivateAndServe()                           //nolint:errcheck // ends at Shutdown
	go ts.ActivateAndServe()                           //nolint:errcheck // ends at Shutdown
	t.Cleanup(func() { us.Shutdown(); ts.Shutdown() }) //nolint:errcheck // test cleanup
	return u
}

// berthDNS is a Server on 127.0.0.1 (UDP and TCP) in front of up.
type berthDNS struct {
	addr  string
	files *Files
	rc    string
	srv   *Server
}

func startBerth(t *testing.T, resolvConf, hosts string, port uint16, deadline time.Duration, w Watcher) *berthDNS {
	t.Helper()
	dir := t.TempDir()
	b := &berthDNS{rc: filepath.Join(dir, "resolv.conf")}
	hp := filepath.Join(dir, "hosts")
	write(t, b.rc, resolvConf)
	write(t, hp, hosts)
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f, err := NewFiles(FilesConfig{ResolvConf: b.rc, Hosts: hp, Port: port, Watcher: w, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	b.files = f
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go f.Run(ctx) //nolint:errcheck // ends with the test
	b.srv = New(Options{Upstream: f, Deadline: deadline, Log: log, Zones: []Zone{
		{Name: "docker.internal.", Records: map[string]netip.Addr{"host": netip.MustParseAddr("192.168.127.254"), "gateway": netip.MustParseAddr("192.168.127.1")}},
	}})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close(); l.Close() })
	go b.srv.ServeUDP(ctx, pc) //nolint:errcheck // ends at Close
	go b.srv.ServeTCP(ctx, l)  //nolint:errcheck // ends at Close
	b.addr = pc.LocalAddr().String()
	return b
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ask sends one query over netw ("udp" or "tcp"); edns > 0 adds OPT.
func (b *berthDNS) ask(t *testing.T, netw, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	if edns > 0 {
		q.SetEdns0(edns, false)
	}
	c := dns.Client{Net: netw, Timeout: 10 * time.Second, UDPSize: 65535}
	r, _, err := c.Exchange(q, b.addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", netw, name, dns.TypeToString[qtype], err)
	}
	return r
}

func TestEveryRecordType(t *testing.T) {
	u := startUpstream(t)
	b := startBerth(t, "nameserver 127.0.0.1\n", "", u.port, 0, nil)
	for _, c := range []struct {
		name  string
		qtype uint16
		want  string // in the answer's text
	}{
		{"a.test.", dns.TypeA, "10.0.0.1"},
		{"c.test.", dns.TypeCNAME, "a.test."},
		{"mx.test.", dns.TypeMX, "mail.a.test."},
		{"ns.test.", dns.TypeNS, "ns1.a.test."},
		{"_x._tcp.test.", dns.TypeSRV, "8080 a.test."},
		{"txt.test.", dns.TypeTXT, `"hello" "world"`},
		{"1.0.0.10.in-addr.arpa.", dns.TypePTR, "a.test."},
		{"https.test.", dns.TypeHTTPS, `alpn="h2,h3"`},
		{"svcb.test.", dns.TypeSVCB, "svc.a.test."},
		{"caa.test.", dns.TypeCAA, "letsencrypt.org"},
	} {
		for _, netw := range []string{"udp", "tcp"} {
			r := b.ask(t, netw, c.name, c.qtype, 0)
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 || !strings.Contains(r.Answer[0].String(), c.want) {
				t.Errorf("%s %s %s: %v", netw, c.name, dns.TypeToString[c.qtype], r)
			}
			if r.Answer[0].Header().Rrtype != c.qtype {
				t.Errorf("%s %s: answer type %s", netw, c.name, dns.TypeToString[r.Answer[0].Header().Rrtype])
			}
		}
	}
	// AAAA: the name exists and has one upstream, but containers cannot
	// use it: no data.
	r := b.ask(t, "udp", "a.test.", dns.TypeAAAA, 0)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("AAAA: %v", r)
	}
	// A name that CNAMEs to another: the chain comes along.
	if r := b.ask(t, "udp", "c.test.", dns.TypeA, 0); r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		t.Errorf("A via CNAME: %v", r)
	}
}

func TestTTLCapAndNXDOMAIN(t *testing.T) {
	u := startUpstream(t)
	b := startBerth(t, "nameserver 127.0.0.1\n", "", u.port, 0, nil)
	r := b.ask(t, "udp", "a.test.", dns.TypeA, 0)
	if r.Answer[0].Header().Ttl != MaxTTL {
		t.Errorf("TTL %d, want the cap %d", r.Answer[0].Header().Ttl, MaxTTL)
	}
	if r := b.ask(t, "udp", "short.test.", dns.TypeA, 0); r.Answer[0].Header().Ttl != 5 {
		t.Errorf("a TTL below the cap changed: %d", r.Answer[0].Header().Ttl)
	}
	r = b.ask(t, "udp", "nothing.test.", dns.TypeA, 0)
	if r.Rcode != dns.RcodeNameError {
		t.Fatalf("a name the upstream does not know: %s", dns.RcodeToString[r.Rcode])
	}
	if len(r.Ns) == 0 || r.Ns[0].Header().Ttl > MaxTTL {
		t.Errorf("NXDOMAIN's SOA (negative TTL) not kept or not capped: %v", r.Ns)
	}
}

func TestEDNS0AndTruncation(t *testing.T) {
	u := startUpstream(t)
	b := startBerth(t, "nameserver 127.0.0.1\n", "", u.port, 0, nil)

	// With EDNS0 the answer has OPT; the upstream sees Berth's OPT.
	r := b.ask(t, "udp", "a.test.", dns.TypeA, 4096)
	if r.IsEdns0() == nil || r.IsEdns0().UDPSize() != ednsSize {
		t.Errorf("no OPT (or not Berth's size) in the answer: %v", r)
	}
	// Without it, none.
	if r := b.ask(t, "udp", "a.test.", dns.TypeA, 0); r.IsEdns0() != nil {
		t.Errorf("OPT for a client without EDNS0: %v", r)
	}

	// The upstream cuts big.test at 1232 over UDP: Berth retries over TCP
	// and has all of it, then fits the client.
	before := u.tcp.Load()
	r = b.ask(t, "tcp", "big.test.", dns.TypeTXT, 0)
	if len(r.Answer) != 40 || r.Truncated {
		t.Fatalf("TCP client: %d records, TC=%v", len(r.Answer), r.Truncated)
	}
	if u.tcp.Load() == before {
		t.Error("Berth did not retry a truncated upstream answer over TCP")
	}
	// A UDP client without EDNS0 gets at most 512 bytes, with TC.
	q := new(dns.Msg)
	q.SetQuestion("big.test.", dns.TypeTXT)
	c := dns.Client{Net: "udp", UDPSize: 65535}
	r, _, err := c.Exchange(q, b.addr)
	if err != nil {
		t.Fatal(err)
	}
	r.Compress = true // the wire's size
	if !r.Truncated || r.Len() > dns.MinMsgSize {
		t.Errorf("UDP without EDNS0: TC=%v, %d bytes", r.Truncated, r.Len())
	}
	// One that announces 4096 gets up to that.
	r = b.ask(t, "udp", "big.test.", dns.TypeTXT, 4096)
	if r.Truncated || len(r.Answer) != 40 || r.Len() > 4096 {
		t.Errorf("UDP with 4096: TC=%v, %d records, %d bytes", r.Truncated, len(r.Answer), r.Len())
	}
	// One that announces 1232 gets TC (and then retries over TCP).
	r = b.ask(t, "udp", "big.test.", dns.TypeTXT, 1232)
	r.Compress = true
	if !r.Truncated || r.Len() > 1232 {
		t.Errorf("UDP with 1232: TC=%v, %d bytes", r.Truncated, r.Len())
	}
	// The client's cookie is not forwarded.
	q = new(dns.Msg)
	q.SetQuestion("a.test.", dns.TypeA)
	q.SetEdns0(1232, true)
	q.IsEdns0().Option = append(q.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0123456789abcdef"})
	if _, _, err := c.Exchange(q, b.addr); err != nil {
		t.Fatal(err)
	}
	if !u.sawOPT.Load() || u.sawCookie.Load() {
		t.Errorf("upstream saw OPT=%v cookie=%v", u.sawOPT.Load(), u.sawCookie.Load())
	}
}

// dropper reads queries on 127.0.0.1 (UDP and TCP) and never answers.
func dropper(t *testing.T) uint16 {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	return uint16(pc.LocalAddr().(*net.UDPAddr).Port)
}

func TestDroppedQueriesAreSERVFAIL(t *testing.T) {
	const deadline = time.Second
	b := startBerth(t, "nameserver 127.0.0.1\nnameserver 127.0.0.2\noptions timeout:5 attempts:3\n", "", dropper(t), deadline, nil)
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX} {
		start := time.Now()
		r := b.ask(t, "udp", "a.test.", qt, 0)
		took := time.Since(start)
		if r.Rcode != dns.RcodeServerFailure {
			t.Errorf("%s: %s, want SERVFAIL", dns.TypeToString[qt], dns.RcodeToString[r.Rcode])
		}
		if took > deadline+500*time.Millisecond {
			t.Errorf("%s: SERVFAIL after %v, bound %v", dns.TypeToString[qt], took, deadline)
		}
		t.Logf("dropped upstream: %s SERVFAIL after %v (deadline %v)", dns.TypeToString[qt], took.Round(time.Millisecond), deadline)
	}
	// Berth's own names do not wait for the upstream.
	if r := b.ask(t, "udp", "host.docker.internal.", dns.TypeA, 0); len(r.Answer) != 1 {
		t.Errorf("host.docker.internal: %v", r)
	}
}

func TestFailoverAndGarbage(t *testing.T) {
	u := startUpstream(t)
	// The first server is a dead port (the dropper's), the second answers.
	drop := dropper(t)
	b := startBerth(t, "nameserver 127.0.0.1\n", "", drop, 2*time.Second, nil)
	// Point the second server at the real one (resolv.conf has no ports).
	st := *b.files.state.Load()
	st.fwd.servers = []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), drop), netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), u.port)}
	b.files.state.Store(&st)
	if r := b.ask(t, "udp", "a.test.", dns.TypeA, 0); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("no failover to the second server: %v", r)
	}
	// An upstream that answers garbage is SERVFAIL, and other names keep
	// working.
	if r := b.ask(t, "udp", "garbage.test.", dns.TypeA, 0); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("garbage upstream: %s", dns.RcodeToString[r.Rcode])
	}
	if r := b.ask(t, "udp", "a.test.", dns.TypeA, 0); len(r.Answer) != 1 {
		t.Errorf("after garbage: %v", r)
	}
}

func TestZonesAndHosts(t *testing.T) {
	u := startUpstream(t)
	b := startBerth(t, "nameserver 127.0.0.1\n", "127.0.0.1 localhost\n::1 localhost\n10.1.2.3 devbox devbox.lan # a comment\n", u.port, 0, nil)
	for name, want := range map[string]string{
		"host.docker.internal.": "192.168.127.254", "gateway.docker.internal.": "192.168.127.1",
		"devbox.": "10.1.2.3", "DevBox.Lan.": "10.1.2.3",
	} {
		r := b.ask(t, "udp", name, dns.TypeA, 0)
		if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != want {
			t.Errorf("%s: %v", name, r)
		}
		if r := b.ask(t, "udp", name, dns.TypeAAAA, 0); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
			t.Errorf("%s AAAA: %v", name, r)
		}
	}
	if r := b.ask(t, "udp", "nope.docker.internal.", dns.TypeA, 0); r.Rcode != dns.RcodeNameError {
		t.Errorf("unknown name in Berth's zone: %s", dns.RcodeToString[r.Rcode])
	}
	// localhost is the container's own, never the host's loopback.
	if r := b.ask(t, "udp", "localhost.", dns.TypeA, 0); len(r.Answer) != 0 {
		t.Errorf("localhost from the host's hosts file: %v", r)
	}
}

// The host's search list applies to names with fewer dots than ndots, as
// the host's own resolver applies it: the container asks "app." (its own
// resolver made it fully qualified) and gets app.corp.example's address
// through a CNAME.
func TestSearchDomains(t *testing.T) {
	u := startUpstream(t)
	b := startBerth(t, "nameserver 127.0.0.1\nsearch nothing.example corp.example\n", "", u.port, 0, nil)
	r := b.ask(t, "udp", "app.", dns.TypeA, 0)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 2 || r.Answer[1].(*dns.A).A.String() != "10.9.0.1" {
		t.Fatalf("app via search: %v", r)
	}
	if c, ok := r.Answer[0].(*dns.CNAME); !ok || c.Hdr.Name != "app." || c.Target != "app.corp.example." {
		t.Errorf("answer does not lead from the asked name: %v", r.Answer[0])
	}
	// A name with enough dots is asked as is first.
	if r := b.ask(t, "udp", "a.test.", dns.TypeA, 0); len(r.Answer) != 1 {
		t.Errorf("a.test: %v", r)
	}
	if r := b.ask(t, "udp", "absent.", dns.TypeA, 0); r.Rcode != dns.RcodeNameError {
		t.Errorf("absent everywhere: %s", dns.RcodeToString[r.Rcode])
	}
}
