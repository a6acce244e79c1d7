package hostdns

import (
	"bufio"
	"bytes"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// ParseScutilDNS reads the text of macOS's `scutil --dns` into the scopes
// its system resolver uses for unscoped queries: the "DNS configuration"
// section's resolvers (the default ones and the supplemental ones that
// /etc/resolver/* files and VPN profiles add, each with its "domain"). The
// "for scoped queries" section applies only to queries bound to an
// interface, which a container's are not, so it is left out.
func ParseScutilDNS(b []byte) Scopes {
	var out Scopes
	var cur *Scope
	flush := func() {
		if cur != nil {
			out = append(out, *cur)
			cur = nil
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "DNS configuration (for scoped queries)"):
			flush()
			return out
		case strings.HasPrefix(line, "resolver #"):
			flush()
			n, _ := strconv.Atoi(strings.TrimPrefix(line, "resolver #"))
			cur = &Scope{Order: 1<<20 + n} // unordered ones after ordered ones, in listed order
			continue
		}
		if cur == nil {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case k == "domain":
			cur.Domain = dns.Fqdn(strings.ToLower(trimDot(v)))
		case strings.HasPrefix(k, "nameserver["):
			if a, err := netip.ParseAddr(strings.SplitN(v, "%", 2)[0]); err == nil {
				cur.Servers = append(cur.Servers, netip.AddrPortFrom(a, 53))
			}
		case k == "port":
			if p, err := strconv.ParseUint(v, 10, 16); err == nil {
				for i := range cur.Servers {
					cur.Servers[i] = netip.AddrPortFrom(cur.Servers[i].Addr(), uint16(p))
				}
			}
		case strings.HasPrefix(k, "search domain["):
			cur.Search = append(cur.Search, dns.Fqdn(strings.ToLower(trimDot(v))))
		case k == "order" || k == "search_order":
			if n, err := strconv.Atoi(v); err == nil && (k == "order" || cur.Order >= 1<<20) {
				cur.Order = n
			}
		case k == "timeout":
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				cur.Timeout = time.Duration(n) * time.Second
			}
		case k == "options" && strings.Contains(v, "mdns"):
			cur.Servers = nil // answered by mDNSResponder, nothing to forward to
		}
	}
	flush()
	return out
}
