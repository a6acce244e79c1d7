package hostdns

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// minTry is the shortest time one server gets for one try, however many
// servers share the query's deadline.
const minTry = 500 * time.Millisecond

// forwarder sends queries to a list of servers the way the host's stub
// resolver does: UDP first, TCP when the answer is truncated, the next
// server on a timeout, garbage, SERVFAIL, REFUSED or NOTIMP, for a number
// of rounds, all within the caller's deadline.
type forwarder struct {
	servers  []netip.AddrPort
	timeout  time.Duration
	attempts int
	rotate   bool
	tcp      bool           // TCP only
	next     *atomic.Uint32 // rotate's starting server
}

func newForwarder(c ResolvConf) forwarder {
	return forwarder{servers: c.Servers, timeout: c.Timeout, attempts: c.Attempts, rotate: c.Rotate, tcp: c.UseVC, next: new(atomic.Uint32)}
}

// errNoServers says that the host has no resolver for the name.
var errNoServers = errors.New("no name servers")

// exchange forwards q as it is but for its ID and EDNS0: a fresh ID per
// try, and Berth's own OPT (the client's DO bit and options but its
// cookie, which belongs to the client and its server).
func (f forwarder) exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
	if len(f.servers) == 0 {
		return nil, errNoServers
	}
	up := prepare(q)
	start := 0
	if f.rotate && f.next != nil {
		start = int(f.next.Add(1))
	}
	var last *dns.Msg
	var lastErr error
	for round := 0; round < max(f.attempts, 1); round++ {
		for i := range f.servers {
			srv := f.servers[(start+i)%len(f.servers)]
			try := f.timeout
			if dl, ok := ctx.Deadline(); ok {
				try = min(try, max(time.Until(dl)/time.Duration(len(f.servers)), minTry))
			}
			r, err := exchangeOne(ctx, up, srv, try, f.tcp)
			if ctx.Err() != nil {
				if last != nil {
					return last, nil
				}
				return nil, fmt.Errorf("%s: %w", srv, ctx.Err())
			}
			if err != nil {
				lastErr = fmt.Errorf("%s: %w", srv, err)
				continue
			}
			switch r.Rcode {
			case dns.RcodeServerFailure, dns.RcodeRefused, dns.RcodeNotImplemented:
				last = r
				continue
			}
			return r, nil
		}
	}
	if last != nil {
		return last, nil
	}
	return nil, lastErr
}

// prepare copies the client's query for the upstream.
func prepare(q *dns.Msg) *dns.Msg {
	up := q.Copy()
	copt := q.IsEdns0()
	up.Extra = dropType(up.Extra, dns.TypeOPT)
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	opt.SetUDPSize(ednsSize)
	if copt != nil {
		opt.SetDo(copt.Do())
		for _, o := range copt.Option {
			if o.Option() != dns.EDNS0COOKIE && o.Option() != dns.EDNS0PADDING {
				opt.Option = append(opt.Option, o)
			}
		}
	}
	up.Extra = append(up.Extra, opt)
	return up
}

// exchangeOne asks one server once: UDP, then TCP if the answer was cut
// (or TCP only).
func exchangeOne(ctx context.Context, q *dns.Msg, srv netip.AddrPort, timeout time.Duration, tcpOnly bool) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	q.Id = dns.Id()
	c := dns.Client{Net: "udp", UDPSize: dns.MaxMsgSize, Timeout: timeout}
	if tcpOnly {
		c.Net = "tcp"
	}
	r, _, err := c.ExchangeContext(ctx, q, srv.String())
	if err == nil && r.Truncated {
		c.Net = "tcp"
		q.Id = dns.Id()
		r, _, err = c.ExchangeContext(ctx, q, srv.String())
	}
	if err != nil {
		return nil, err
	}
	if len(r.Question) != 1 || !sameQuestion(r.Question[0], q.Question[0]) {
		return nil, fmt.Errorf("answer to another question: %v", r.Question)
	}
	return r, nil
}

func sameQuestion(a, b dns.Question) bool {
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && dns.CanonicalName(a.Name) == dns.CanonicalName(b.Name)
}
