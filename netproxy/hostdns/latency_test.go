package hostdns

import (
	"net"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestLatency compares a query through Berth's server with the same query
// sent straight to the resolver behind it: 1,000 of each, interleaved, over
// UDP on loopback. It measures what the server adds (parsing, the hosts
// file and zones, forwarding), not the virtual network. Not part of
// `make test`: BERTH_DNS_BENCH=1 runs it.
func TestLatency(t *testing.T) {
	if os.Getenv("BERTH_DNS_BENCH") == "" {
		t.Skip("BERTH_DNS_BENCH=1 runs the latency comparison")
	}
	u := startUpstream(t)
	b := startBerth(t, "nameserver 127.0.0.1\n", "", u.port, 0, nil)
	direct := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(u.port)))
	const n = 1000
	var via, straight []time.Duration
	c := dns.Client{Net: "udp", Timeout: 2 * time.Second}
	q := new(dns.Msg)
	q.SetQuestion("a.test.", dns.TypeA)
	for range 50 { // warm both paths
		c.Exchange(q, b.addr) //nolint:errcheck // warm-up
		c.Exchange(q, direct) //nolint:errcheck // warm-up
	}
	for range n {
		for _, p := range []struct {
			addr string
			out  *[]time.Duration
		}{{b.addr, &via}, {direct, &straight}} {
			start := time.Now()
			r, _, err := c.Exchange(q, p.addr)
			if err != nil || len(r.Answer) != 1 {
				t.Fatalf("%s: %v %v", p.addr, r, err)
			}
			*p.out = append(*p.out, time.Since(start))
		}
	}
	med, p99 := func(d []time.Duration) time.Duration { return pct(d, 50) }, func(d []time.Duration) time.Duration { return pct(d, 99) }
	t.Logf("DNS latency, %d UDP queries each: through Berth median %v p99 %v; direct median %v p99 %v; ratio median %.2fx p99 %.2fx",
		n, med(via), p99(via), med(straight), p99(straight),
		float64(med(via))/float64(med(straight)), float64(p99(via))/float64(p99(straight)))
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)].Round(time.Microsecond)
}
