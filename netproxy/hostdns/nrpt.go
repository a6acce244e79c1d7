package hostdns

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// NRPTRule is one rule of Windows' Name Resolution Policy Table (what
// DirectAccess, VPN profiles and Add-DnsClientNrptRule write under
// ...\Dnscache\Parameters\DnsPolicyConfig): names it applies to and the
// servers that answer them.
type NRPTRule struct {
	// Names: ".corp.example" applies to every name that ends with it (not
	// corp.example itself); "host.corp.example" to that name only.
	Names   []string
	Servers []netip.Addr
}

// NRPTScopes turns the rules and the interfaces' servers (in interface
// metric order) into scopes. The DNS Client service applies the most
// specific matching rule and the interfaces' servers when no rule
// matches; a rule without servers (an exemption, as DirectAccess writes
// for its public names) sends its names to the interfaces' servers.
func NRPTScopes(rules []NRPTRule, ifaceServers []netip.Addr, search []string) Scopes {
	var def []netip.AddrPort
	for _, a := range ifaceServers {
		def = append(def, netip.AddrPortFrom(a, 53))
	}
	var out Scopes
	for i, r := range rules {
		srv := def
		if len(r.Servers) > 0 {
			srv = nil
			for _, a := range r.Servers {
				srv = append(srv, netip.AddrPortFrom(a, 53))
			}
		}
		for _, n := range r.Names {
			n = strings.ToLower(strings.TrimSpace(n))
			if n == "" || n == "." {
				continue // a rule for every name: not a split, leave it to the default
			}
			suffix := strings.HasPrefix(n, ".")
			out = append(out, Scope{Domain: dns.Fqdn(trimDot(n)), Exact: !suffix, Below: suffix, Servers: srv, Order: i})
		}
	}
	var s []string
	for _, d := range search {
		s = append(s, dns.Fqdn(strings.ToLower(trimDot(d))))
	}
	return append(out, Scope{Servers: def, Order: len(rules), Search: s})
}
