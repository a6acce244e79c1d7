package hostdns

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// echoUpstream answers every question with one A record, a huge TXT set
// for "big." and an error for "fail.", in memory.
type echoUpstream struct{}

func (echoUpstream) Exchange(_ context.Context, q *dns.Msg) (*dns.Msg, error) {
	switch dns.CanonicalName(q.Question[0].Name) {
	case "fail.":
		return nil, errors.New("no answer")
	case "big.":
		m := new(dns.Msg)
		m.SetReply(q)
		for range 500 {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 99}, Txt: []string{"0123456789012345678901234567890123456789"}})
		}
		return m, nil
	}
	m := new(dns.Msg)
	m.SetReply(q)
	m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 3600}, A: []byte{10, 0, 0, 1}}}
	return m, nil
}

func fuzzServer() *Server {
	return New(Options{Upstream: echoUpstream{}, Zones: []Zone{{Name: "docker.internal.", Records: map[string]netip.Addr{"host": netip.MustParseAddr("192.168.127.254")}}}})
}

func seedQuery(name string, qt uint16, edns uint16) []byte {
	q := new(dns.Msg)
	q.SetQuestion(name, qt)
	if edns > 0 {
		q.SetEdns0(edns, true)
	}
	b, _ := q.Pack()
	return b
}

// FuzzServe: arbitrary bytes in, never a panic, and always either nothing
// or a well-formed answer to the same ID that fits the transport.
func FuzzServe(f *testing.F) {
	for _, s := range [][]byte{
		seedQuery("a.example.", dns.TypeA, 0), seedQuery("big.", dns.TypeTXT, 1232),
		seedQuery("fail.", dns.TypeMX, 0), seedQuery("host.docker.internal.", dns.TypeA, 4096),
		seedQuery("x.", dns.TypeAAAA, 0), {}, {0, 1, 0, 0, 0, 1},
		{0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x0c, 0, 1, 0, 1},
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	s := fuzzServer()
	f.Fuzz(func(t *testing.T, in []byte, udp bool) {
		out := s.Answer(context.Background(), in, udp)
		if out == nil {
			return
		}
		if len(in) < 2 || out[0] != in[0] || out[1] != in[1] {
			t.Fatalf("answer's ID %x for query %x", out[:2], in)
		}
		if udp && len(out) > maxUDPAnswer {
			t.Fatalf("UDP answer of %d bytes", len(out))
		}
		m := new(dns.Msg)
		if len(out) == 12 && out[3]&0xf == dns.RcodeFormatError {
			return // a bare header for a query that did not parse
		}
		if err := m.Unpack(out); err != nil {
			t.Fatalf("answer does not parse: %v\nin %x\nout %x", err, in, out)
		}
		if !m.Response {
			t.Fatal("answer without QR")
		}
	})
}

func TestMalformedQueries(t *testing.T) {
	s := fuzzServer()
	ctx := context.Background()
	if out := s.Answer(ctx, []byte{1, 2, 3}, true); out != nil {
		t.Errorf("answer to 3 bytes: %x", out)
	}
	// A header that claims a question it does not carry: FORMERR.
	out := s.Answer(ctx, []byte{0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}, true)
	if len(out) != 12 || out[0] != 0xab || out[3]&0xf != dns.RcodeFormatError {
		t.Errorf("FORMERR: %x", out)
	}
	// A response is not answered (no loops between two servers).
	r := new(dns.Msg)
	r.SetQuestion("a.", dns.TypeA)
	r.Response = true
	b, _ := r.Pack()
	if out := s.Answer(ctx, b, true); out != nil {
		t.Errorf("answered a response")
	}
	// Two questions: FORMERR; an update: NOTIMP; EDNS version 1: BADVERS.
	q := new(dns.Msg)
	q.SetQuestion("a.", dns.TypeA)
	q.Question = append(q.Question, q.Question[0])
	if m := unpack(t, s.Answer(ctx, pack(t, q), true)); m.Rcode != dns.RcodeFormatError {
		t.Errorf("two questions: %s", dns.RcodeToString[m.Rcode])
	}
	q = new(dns.Msg)
	q.SetUpdate("example.")
	if m := unpack(t, s.Answer(ctx, pack(t, q), true)); m.Rcode != dns.RcodeNotImplemented {
		t.Errorf("update: %s", dns.RcodeToString[m.Rcode])
	}
	q = new(dns.Msg)
	q.SetQuestion("a.", dns.TypeA)
	q.SetEdns0(1232, false)
	q.IsEdns0().SetVersion(1)
	if m := unpack(t, s.Answer(ctx, pack(t, q), true)); m.Rcode != dns.RcodeBadVers {
		t.Errorf("EDNS version 1: %s", dns.RcodeToString[m.Rcode])
	}
	// A huge answer fits the UDP client, with TC, and an upstream error
	// is SERVFAIL.
	m := unpack(t, s.Answer(ctx, seedQuery("big.", dns.TypeTXT, 0), true))
	if !m.Truncated {
		t.Error("huge answer not truncated")
	}
	if m := unpack(t, s.Answer(ctx, seedQuery("fail.", dns.TypeA, 0), true)); m.Rcode != dns.RcodeServerFailure {
		t.Errorf("upstream error: %s", dns.RcodeToString[m.Rcode])
	}
}

func pack(t *testing.T, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func unpack(t *testing.T, b []byte) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		t.Fatalf("%v: %x", err, b)
	}
	return m
}

// panicky panics for "boom." and answers the rest as echoUpstream.
type panicky struct{ echoUpstream }

func (p panicky) Exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
	if q.Question[0].Name == "boom." {
		panic("upstream bug")
	}
	return p.echoUpstream.Exchange(ctx, q)
}

// A panic on one query's path loses that answer, not the server.
func TestPanicLosesOneAnswer(t *testing.T) {
	s := New(Options{Upstream: panicky{}})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go s.ServeUDP(context.Background(), pc) //nolint:errcheck // ends at Close
	c := dns.Client{Timeout: 300 * time.Millisecond}
	q := new(dns.Msg)
	q.SetQuestion("boom.", dns.TypeA)
	if _, _, err := c.Exchange(q, pc.LocalAddr().String()); err == nil {
		t.Error("an answer from a query that panicked")
	}
	q.SetQuestion("fine.", dns.TypeA)
	if r, _, err := c.Exchange(q, pc.LocalAddr().String()); err != nil || len(r.Answer) != 1 {
		t.Errorf("after a panic: %v %v", r, err)
	}
}
