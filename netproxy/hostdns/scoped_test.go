package hostdns

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// scutilText is `scutil --dns` as macOS prints it with a VPN's
// supplemental resolver for corp.example (or an /etc/resolver/corp.example
// file: it adds "port" when the file names one), the mDNS resolvers and a
// scoped section, which unscoped queries never use.
func scutilText(defPort, corpPort uint16) string {
	return fmt.Sprintf(`DNS configuration

resolver #1
  search domain[0] : home.lan
  nameserver[0] : 127.0.0.1
  port          : %d
  if_index : 6 (en0)
  flags    : Request A records
  reach    : 0x00020002 (Reachable,Directly Reachable Address)

resolver #2
  domain   : corp.example
  nameserver[0] : 127.0.0.1
  port          : %d
  flags    : Supplemental, Request A records
  reach    : 0x00000002 (Reachable)
  order    : 102400

resolver #3
  domain   : local
  options  : mdns
  timeout  : 5
  flags    : Request A records
  reach    : 0x00000000 (Not Reachable)
  order    : 300000

DNS configuration (for scoped queries)

resolver #1
  domain   : scoped.example
  nameserver[0] : 10.99.99.99
  if_index : 6 (en0)
  flags    : Scoped, Request A records
`, defPort, corpPort)
}

func TestParseScutilDNS(t *testing.T) {
	s := ParseScutilDNS([]byte(scutilText(53, 5353)))
	if len(s) != 3 {
		t.Fatalf("%d resolvers: %+v", len(s), s)
	}
	for name, want := range map[string]string{
		"app.corp.example.": "corp.example.", "corp.example.": "corp.example.", "CORP.example.": "corp.example.",
		"example.com.": "", "notcorp.example.": "", "scoped.example.": "", "printer.local.": "",
	} {
		got := s.pick(name)
		if got == nil || got.Domain != want {
			t.Errorf("%s: resolver %+v, want domain %q", name, got, want)
		}
	}
	if c := s.pick("a.corp.example."); c.Servers[0].Port() != 5353 {
		t.Errorf("port line not applied: %v", c.Servers)
	}
	if d := s.pick("x."); len(d.Search) != 1 || d.Search[0] != "home.lan." {
		t.Errorf("search: %v", d.Search)
	}
}

func TestNRPTRules(t *testing.T) {
	ip := netip.MustParseAddr
	s := NRPTScopes([]NRPTRule{
		{Names: []string{".corp.example"}, Servers: []netip.Addr{ip("10.1.0.1")}},
		{Names: []string{".eu.corp.example"}, Servers: []netip.Addr{ip("10.2.0.1")}},
		{Names: []string{"login.other.example"}, Servers: []netip.Addr{ip("10.3.0.1")}},
		{Names: []string{".public.corp.example"}}, // exemption: no servers
	}, []netip.Addr{ip("192.168.1.1")}, []string{"corp.example"})
	for name, want := range map[string]string{
		"app.corp.example.":          "10.1.0.1",
		"db.eu.corp.example.":        "10.2.0.1", // the more specific rule
		"login.other.example.":       "10.3.0.1", // an exact name
		"sub.login.other.example.":   "192.168.1.1",
		"www.public.corp.example.":   "192.168.1.1", // exempt from the broader rule
		"example.com.":               "192.168.1.1",
		"corp.example.evil.example.": "192.168.1.1",
		"corp.example.":              "192.168.1.1", // a suffix rule is for names below it
	} {
		if got := s.pick(name); got == nil || got.Servers[0].Addr().String() != want {
			t.Errorf("%s: %+v, want %s", name, got, want)
		}
	}
}

// fakeWatcher reports a change whenever the test says so.
type fakeWatcher chan string

func (w fakeWatcher) Watch(ctx context.Context, changed func(string)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case why := <-w:
			changed(why)
		}
	}
}

// A VPN comes up on a macOS host (its supplemental resolver appears in
// `scutil --dns`) and goes: names under its domain go to its server while it
// is there, and back to the default after.
func TestScopedVPNComesAndGoes(t *testing.T) {
	pub, corp := startUpstream(t), startUpstream(t)
	var text atomic.Value
	text.Store(strings.Split(scutilText(pub.port, corp.port), "resolver #2")[0])
	w := make(fakeWatcher)
	d, err := NewDynamic(func() (Scopes, error) { return ParseScutilDNS([]byte(text.Load().(string))), nil }, "/nonexistent", w, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx) //nolint:errcheck // ends with ctx
	ask := func(name string) (pubN, corpN int32) {
		q := new(dns.Msg)
		q.SetQuestion(name, dns.TypeA)
		p0, c0 := pub.queries.Load(), corp.queries.Load()
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := d.Exchange(ctx, q); err != nil {
			t.Fatal(err)
		}
		return pub.queries.Load() - p0, corp.queries.Load() - c0
	}
	if p, c := ask("app.corp.example."); p != 1 || c != 0 {
		t.Errorf("before the VPN: public %d, corp %d queries", p, c)
	}
	text.Store(scutilText(pub.port, corp.port))
	w <- "vpn up"
	w <- "sync" // the first change has been applied once this is taken
	if p, c := ask("app.corp.example."); p != 0 || c != 1 {
		t.Errorf("VPN up: public %d, corp %d queries", p, c)
	}
	if p, c := ask("a.test."); p != 1 || c != 0 {
		t.Errorf("VPN up, other names: public %d, corp %d queries", p, c)
	}
	text.Store(strings.Split(scutilText(pub.port, corp.port), "resolver #2")[0])
	w <- "vpn down"
	w <- "sync"
	if p, c := ask("app.corp.example."); p != 1 || c != 0 {
		t.Errorf("VPN down: public %d, corp %d queries", p, c)
	}
}
