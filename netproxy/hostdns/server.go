// Package hostdns is the DNS server on the virtual network's gateway: it
// answers each guest query the way the host would resolve that name at that
// moment (its resolver configuration, hosts file, VPN split DNS), plus
// Berth's own names. It links no gvisor: the virtual network hands it a
// packet conn and a listener from its stack.
package hostdns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Upstream answers a query as the host would. It gets the client's query
// (one question) and returns the answer or an error; an error becomes
// SERVFAIL, never NXDOMAIN.
type Upstream interface {
	Exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error)
}

// Zone is one of Berth's own zones: names under it answer from Records
// (label → IPv4 address) and nothing else.
type Zone struct {
	Name    string // fully qualified, e.g. "docker.internal."
	Records map[string]netip.Addr
}

const (
	// MaxTTL caps every TTL handed to the guest, so that a host change
	// (a VPN coming up) reaches containers' caches within it.
	MaxTTL = 30
	// DefaultDeadline bounds one query, retries included: a client (glibc,
	// musl) gives up after 5 s, so SERVFAIL comes before it does.
	DefaultDeadline = 4 * time.Second
	// ednsSize is the UDP payload size Berth announces, to clients and to
	// upstream servers (DNS flag day 2020: no IP fragmentation).
	ednsSize = 1232
	// maxUDPAnswer caps what a client's announced size can ask for.
	maxUDPAnswer = 4096
	// maxInFlight bounds queries served at once; more are dropped (and
	// the client retries) rather than growing without limit.
	maxInFlight = 512
	tcpIdle     = 10 * time.Second
)

// Options configure a Server.
type Options struct {
	Upstream Upstream // nil: every name outside Zones is SERVFAIL
	Zones    []Zone
	Deadline time.Duration // per query; DefaultDeadline when zero
	Log      *slog.Logger
}

// Server answers DNS queries. Its Serve methods run until their conn or
// listener is closed.
type Server struct {
	o   Options
	log *rateLog
	sem chan struct{}
}

// New returns a server; it serves nothing until ServeUDP or ServeTCP.
func New(o Options) *Server {
	if o.Deadline <= 0 {
		o.Deadline = DefaultDeadline
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	for i, z := range o.Zones {
		o.Zones[i].Name = dns.CanonicalName(z.Name)
	}
	return &Server{o: o, log: newRateLog(o.Log, 10*time.Second), sem: make(chan struct{}, maxInFlight)}
}

// ServeUDP answers the queries that arrive on pc, each in its own goroutine,
// until pc is closed.
func (s *Server) ServeUDP(ctx context.Context, pc net.PacketConn) error {
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("dns: read udp: %w", err)
		}
		select {
		case s.sem <- struct{}{}:
		default:
			s.log.warn("busy", "dns: too many queries in flight, dropping one", "from", from.String())
			continue
		}
		q := append([]byte(nil), buf[:n]...)
		go func() {
			defer func() { <-s.sem }()
			defer s.survive()
			if out := s.Answer(ctx, q, true); out != nil {
				if _, err := pc.WriteTo(out, from); err != nil {
					s.log.warn("write", "dns: cannot answer", "to", from.String(), "err", err)
				}
			}
		}()
	}
}

// ServeTCP answers the queries of every connection l accepts (two-byte
// length before each message, RFC 7766) until l is closed.
func (s *Server) ServeTCP(ctx context.Context, l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("dns: accept tcp: %w", err)
		}
		go s.serveConn(ctx, c)
	}
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	defer s.survive()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	var hdr [2]byte
	for {
		c.SetReadDeadline(time.Now().Add(tcpIdle)) //nolint:errcheck // a failed deadline shows as a failed read
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(hdr[:]))
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		out := s.Answer(ctx, q, false)
		if out == nil {
			continue
		}
		msg := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(out)), uint16(len(out)))
		c.SetWriteDeadline(time.Now().Add(tcpIdle)) //nolint:errcheck // a failed deadline shows as a failed write
		if _, err := c.Write(append(msg, out...)); err != nil {
			return
		}
	}
}

// survive keeps a bug in one query's path (the fuzz target found none)
// from taking the daemon, and DNS for every other name, down with it.
func (s *Server) survive() {
	if p := recover(); p != nil {
		s.log.warn("panic", "dns: a query failed with a panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	}
}

// Answer turns one query's bytes into the answer's bytes, or nil when the
// bytes deserve no answer (not a query at all). udp says whether the answer
// must fit the client's UDP size.
func (s *Server) Answer(ctx context.Context, raw []byte, udp bool) []byte {
	q := new(dns.Msg)
	if err := q.Unpack(raw); err != nil {
		s.log.warn("malformed", "dns: malformed query", "bytes", len(raw), "err", err)
		return formErr(raw)
	}
	if q.Response {
		return nil
	}
	r := s.reply(ctx, q)
	size := dns.MaxMsgSize
	if udp {
		size = dns.MinMsgSize
		if opt := q.IsEdns0(); opt != nil {
			size = min(max(int(opt.UDPSize()), dns.MinMsgSize), maxUDPAnswer)
		}
	}
	r.Truncate(size)
	out, err := r.Pack()
	if err != nil {
		s.log.warn("pack", "dns: cannot pack an answer", "name", q.Question[0].Name, "err", err)
		f := new(dns.Msg)
		f.SetRcode(q, dns.RcodeServerFailure)
		if out, err = f.Pack(); err != nil {
			return nil
		}
	}
	return out
}

// formErr answers bytes that do not parse but carry a query's header.
func formErr(raw []byte) []byte {
	if len(raw) < 12 || raw[2]&0x80 != 0 {
		return nil
	}
	var h [12]byte
	copy(h[:4], raw[:4])
	h[2] = 0x80 | raw[2]&0x78 // QR, the client's opcode
	h[3] = dns.RcodeFormatError
	return h[:]
}

// reply builds the answer to a parsed query.
func (s *Server) reply(ctx context.Context, q *dns.Msg) *dns.Msg {
	copt := q.IsEdns0()
	m := new(dns.Msg)
	switch {
	case q.Opcode != dns.OpcodeQuery:
		m.SetRcode(q, dns.RcodeNotImplemented)
	case len(q.Question) != 1:
		m.SetRcode(q, dns.RcodeFormatError)
	case copt != nil && copt.Version() != 0:
		m.SetRcode(q, dns.RcodeBadVers)
	default:
		m = s.resolve(ctx, q)
	}
	m.Id, m.Response, m.Opcode = q.Id, true, q.Opcode
	m.RecursionDesired, m.RecursionAvailable = q.RecursionDesired, true
	if len(q.Question) == 1 {
		m.Question = q.Question
	}
	setOPT(m, copt)
	capTTL(m)
	return m
}

// resolve answers one question from Berth's zones or the upstream.
func (s *Server) resolve(ctx context.Context, q *dns.Msg) *dns.Msg {
	qq := q.Question[0]
	if m, ok := s.zoneAnswer(q); ok {
		return m
	}
	if s.o.Upstream == nil {
		return servfail(q)
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Deadline)
	defer cancel()
	r, err := s.o.Upstream.Exchange(ctx, q.Copy())
	if err != nil {
		s.log.warn("upstream", "dns: no answer from the host's resolvers", "name", qq.Name, "type", dns.TypeToString[qq.Qtype], "err", err)
		return servfail(q)
	}
	if qq.Qtype == dns.TypeAAAA {
		// Containers have no IPv6 route through Berth: an address they
		// cannot reach would only make clients try it first and wait.
		r.Answer = dropType(r.Answer, dns.TypeAAAA)
	}
	return r
}

func servfail(q *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(q, dns.RcodeServerFailure)
	return m
}

// zoneAnswer answers names in Berth's own zones.
func (s *Server) zoneAnswer(q *dns.Msg) (*dns.Msg, bool) {
	qq := q.Question[0]
	name := dns.CanonicalName(qq.Name)
	for _, z := range s.o.Zones {
		if !dns.IsSubDomain(z.Name, name) {
			continue
		}
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		if name == z.Name {
			return m, true
		}
		ip, ok := z.Records[strings.TrimSuffix(name, "."+z.Name)]
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
		case qq.Qtype == dns.TypeA && qq.Qclass == dns.ClassINET:
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET}, A: ip.AsSlice()}}
		}
		return m, true
	}
	return nil, false
}

// setOPT gives the answer an OPT record if and only if the client sent one
// (RFC 6891), with Berth's own size; the upstream's OPT is not the client's
// business beyond the DO bit and the extended rcode (kept in m.Rcode).
func setOPT(m *dns.Msg, client *dns.OPT) {
	do := false
	if o := m.IsEdns0(); o != nil {
		do = o.Do()
	}
	m.Extra = dropType(m.Extra, dns.TypeOPT)
	if client == nil {
		if m.Rcode > 0xF {
			m.Rcode = dns.RcodeServerFailure
		}
		return
	}
	m.SetEdns0(ednsSize, do && client.Do())
}

func dropType(rrs []dns.RR, t uint16) []dns.RR {
	out := rrs[:0]
	for _, rr := range rrs {
		if rr.Header().Rrtype != t {
			out = append(out, rr)
		}
	}
	return out
}

// capTTL keeps every TTL within MaxTTL.
func capTTL(m *dns.Msg) {
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			if h := rr.Header(); h.Rrtype != dns.TypeOPT && h.Ttl > MaxTTL {
				h.Ttl = MaxTTL
			}
		}
	}
}
