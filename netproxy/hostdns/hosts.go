package hostdns

import (
	"bufio"
	"bytes"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// hostsTTL is short: the file can change at any time.
const hostsTTL = 10

// Hosts are the host's hosts-file names with their IPv4 addresses.
type Hosts map[string][]netip.Addr

// ParseHosts reads a hosts file. Loopback addresses are left out: in a
// container they would name the container itself, not the host (which is
// host.docker.internal), and IPv6 ones since containers cannot reach IPv6
// through Berth.
func ParseHosts(b []byte) Hosts {
	h := Hosts{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil || a.IsLoopback() || a.IsUnspecified() || !a.Unmap().Is4() {
			continue
		}
		for _, n := range f[1:] {
			n = dns.CanonicalName(n)
			if _, ok := dns.IsDomainName(n); ok {
				h[n] = append(h[n], a.Unmap())
			}
		}
	}
	return h
}

// answer answers A and AAAA for a hosts-file name (AAAA: no data), as the
// host's "files before dns" does; anything else is the DNS's.
func (h Hosts) answer(q *dns.Msg) (*dns.Msg, bool) {
	qq := q.Question[0]
	addrs, ok := h[dns.CanonicalName(qq.Name)]
	if !ok || qq.Qclass != dns.ClassINET || (qq.Qtype != dns.TypeA && qq.Qtype != dns.TypeAAAA) {
		return nil, false
	}
	m := new(dns.Msg)
	m.SetReply(q)
	if qq.Qtype == dns.TypeA {
		for _, a := range addrs {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: hostsTTL}, A: a.AsSlice()})
		}
	}
	return m, true
}
