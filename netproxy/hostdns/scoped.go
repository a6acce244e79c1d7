package hostdns

import (
	"context"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Scope is one resolver of a host whose system resolver picks servers by
// name: macOS's resolvers (scutil --dns; /etc/resolver/* files and VPN
// profiles add supplemental ones for their domains) and Windows' Name
// Resolution Policy Table rules beside each interface's servers.
type Scope struct {
	// Domain is the suffix this resolver is for ("corp.example."); empty
	// for a default resolver.
	Domain string
	// Exact: only Domain itself, not names under it (an NRPT rule for a
	// fully qualified name).
	Exact bool
	// Below: only names under Domain, not Domain itself (an NRPT suffix
	// rule, ".corp.example", matches names that end with it).
	Below   bool
	Servers []netip.AddrPort
	// Order breaks ties between resolvers for the same domain, lowest
	// first (macOS's search_order / order).
	Order   int
	Timeout time.Duration // 0: 5 s
	// Search is the default resolver's search list (macOS); ndots 1.
	Search []string
}

// Scopes route each name to the resolver the host's system resolver would
// use: the most specific domain that contains the name, else the first
// default resolver.
type Scopes []Scope

// pick returns the resolver for name, or nil when the host has none.
func (s Scopes) pick(name string) *Scope {
	name = dns.CanonicalName(name)
	var best *Scope
	for i := range s {
		c := &s[i]
		if len(c.Servers) == 0 {
			continue // mDNS and the like: nothing to forward to
		}
		d := dns.CanonicalName(c.Domain)
		if c.Domain != "" {
			if c.Exact && d != name || !c.Exact && !dns.IsSubDomain(d, name) || c.Below && d == name {
				continue
			}
		}
		if best == nil || better(c, best) {
			best = c
		}
	}
	return best
}

// better: a longer domain wins (an exact rule over a suffix of the same
// length), then the lower order.
func better(a, b *Scope) bool {
	la, lb := dns.CountLabel(dns.CanonicalName(a.Domain)), dns.CountLabel(dns.CanonicalName(b.Domain))
	if a.Domain == "" {
		la = -1
	}
	if b.Domain == "" {
		lb = -1
	}
	if la != lb {
		return la > lb
	}
	if a.Exact != b.Exact {
		return a.Exact
	}
	return a.Order < b.Order
}

// sorted returns the scopes by order, as the host lists them.
func (s Scopes) sorted() Scopes {
	out := append(Scopes(nil), s...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Order < out[j].Order })
	return out
}

// Exchange forwards q to the resolver the host would use for its name (the
// search list of the default resolver applies as with resolv.conf).
func (s Scopes) Exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
	def := s.pick(".")
	conf := ResolvConf{Ndots: 1}
	if def != nil && def.Domain == "" {
		conf.Search = def.Search
	}
	names := conf.candidates(q.Question[0].Name)
	return searchExchange(ctx, q, names, func(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
		sc := s.pick(q.Question[0].Name)
		if sc == nil {
			return nil, errNoServers
		}
		t := sc.Timeout
		if t == 0 {
			t = 5 * time.Second
		}
		return forwarder{servers: sc.Servers, timeout: t, attempts: 2}.exchange(ctx, q)
	})
}

func trimDot(s string) string { return strings.TrimSuffix(strings.TrimPrefix(s, "."), ".") }
