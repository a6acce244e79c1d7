package hostdns

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestParseResolvConf(t *testing.T) {
	c := ParseResolvConf([]byte(`# systemd-resolved's stub, then more than glibc uses
nameserver 127.0.0.53
nameserver 10.0.0.2 ; a comment
nameserver fe80::1%eth0
nameserver 10.0.0.4
domain first.example
search Corp.Example lan.
options ndots:2 timeout:3 attempts:4 rotate use-vc edns0 trust-ad
`))
	want := []netip.AddrPort{
		netip.MustParseAddrPort("127.0.0.53:53"), netip.MustParseAddrPort("10.0.0.2:53"), netip.MustParseAddrPort("[fe80::1%eth0]:53"),
	}
	if !slices.Equal(c.Servers, want) {
		t.Errorf("servers %v", c.Servers)
	}
	if !slices.Equal(c.Search, []string{"corp.example.", "lan."}) {
		t.Errorf("search %v (the last search or domain line wins)", c.Search)
	}
	if c.Ndots != 2 || c.Timeout != 3*time.Second || c.Attempts != 4 || !c.Rotate || !c.UseVC {
		t.Errorf("options %+v", c)
	}
	d := ParseResolvConf(nil)
	if len(d.Servers) != 1 || d.Servers[0].Addr() != netip.MustParseAddr("127.0.0.1") || d.Ndots != 1 || d.Timeout != 5*time.Second || d.Attempts != 2 {
		t.Errorf("defaults %+v", d)
	}
	if got := c.candidates("app."); !slices.Equal(got, []string{"app.corp.example.", "app.lan.", "app."}) {
		t.Errorf("single label: %v", got)
	}
	if got := c.candidates("a.b.c."); !slices.Equal(got, []string{"a.b.c.", "a.b.c.corp.example.", "a.b.c.lan."}) {
		t.Errorf("enough dots: %v", got)
	}
}

// "options use-vc": every query goes over TCP.
func TestUseVC(t *testing.T) {
	u := startUpstream(t)
	b := startBerth(t, "nameserver 127.0.0.1\noptions use-vc\n", "", u.port, 0, nil)
	before := u.tcp.Load()
	if r := b.ask(t, "udp", "a.test.", dns.TypeA, 0); len(r.Answer) != 1 {
		t.Fatalf("%v", r)
	}
	if u.tcp.Load() != before+1 {
		t.Errorf("use-vc: %d TCP queries upstream", u.tcp.Load()-before)
	}
}
