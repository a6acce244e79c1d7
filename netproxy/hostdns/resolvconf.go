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

// ResolvConf is what resolv.conf(5) tells the host's stub resolver.
type ResolvConf struct {
	Servers  []netip.AddrPort
	Search   []string // fully qualified
	Ndots    int
	Timeout  time.Duration // per try
	Attempts int           // rounds over Servers
	Rotate   bool
	UseVC    bool // TCP only ("options use-vc")
}

// ParseResolvConf reads resolv.conf's text as glibc does: the last
// "search" or "domain" line wins, options accumulate, unknown lines and
// options are ignored, at most three servers count (MAXNS); no server
// means the local one.
func ParseResolvConf(b []byte) ResolvConf {
	c := ResolvConf{Ndots: 1, Timeout: 5 * time.Second, Attempts: 2}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			a, err := netip.ParseAddr(f[1])
			if err == nil && len(c.Servers) < 3 {
				c.Servers = append(c.Servers, netip.AddrPortFrom(a.Unmap(), 53))
			}
		case "domain", "search":
			c.Search = nil
			for _, d := range f[1:] {
				if d != "." {
					c.Search = append(c.Search, dns.Fqdn(strings.ToLower(d)))
				}
			}
		case "options":
			for _, o := range f[1:] {
				k, v, _ := strings.Cut(o, ":")
				n, _ := strconv.Atoi(v)
				switch k {
				case "ndots":
					c.Ndots = min(max(n, 0), 15)
				case "timeout":
					c.Timeout = time.Duration(min(max(n, 1), 30)) * time.Second
				case "attempts":
					c.Attempts = min(max(n, 1), 5)
				case "rotate":
					c.Rotate = true
				case "use-vc":
					c.UseVC = true
				}
			}
		}
	}
	if len(c.Servers) == 0 {
		c.Servers = []netip.AddrPort{netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 53)}
	}
	return c
}

// candidates lists the names to try for name, in the order the host's
// resolver tries them: with fewer dots than ndots the search list first,
// else the name as is first.
func (c ResolvConf) candidates(name string) []string {
	name = dns.Fqdn(name)
	if len(c.Search) == 0 || name == "." {
		return []string{name}
	}
	var searched []string
	for _, d := range c.Search {
		if len(name)+len(d) <= 254 {
			searched = append(searched, name+d)
		}
	}
	if dns.CountLabel(name)-1 < c.Ndots {
		return append(searched, name)
	}
	return append([]string{name}, searched...)
}
