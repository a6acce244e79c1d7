//go:build linux

package firewall

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"github.com/berthvm/berth/internal/netnstest"
)

// In a network namespace of its own (root only), the guard drops a
// connection to a private port that does not come in on eth0 from the host,
// and leaves other ports alone.
func TestGuardInNetns(t *testing.T) {
	ns := netnstest.Enter(t)
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}

	private, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer private.Close()
	public, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer public.Close()
	port := uint16(private.Addr().(*net.TCPAddr).Port)

	dial := func(l net.Listener) error {
		c, err := net.DialTimeout("tcp", l.Addr().String(), 500*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(private); err != nil {
		t.Fatalf("before the guard: %v", err)
	}
	// Only a kernel without nf_tables is a reason to skip (netnstest skips
	// when not root): it cannot list tables. Any Apply error is a failure.
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err == nil {
		_, err = c.ListTables()
	}
	if err != nil {
		t.Skipf("nftables unavailable here: %v", err)
	}
	p := Policy{Interface: "eth0", Peer: netip.MustParseAddr("192.168.127.1"), Ports: []uint16{port}}
	if err := p.Apply(int(ns)); err != nil {
		t.Fatalf("applying: %v", err)
	}
	if err := p.Apply(int(ns)); err != nil {
		t.Fatalf("applying twice: %v", err)
	}
	if err := dial(private); err == nil {
		t.Fatal("a connection from loopback reached the private port")
	}
	if err := dial(public); err != nil {
		t.Fatalf("another port was blocked too: %v", err)
	}
}

func TestRulesRejectBadPolicy(t *testing.T) {
	if _, err := (Policy{Interface: "eth0", Peer: netip.MustParseAddr("::1")}).Rules(); err == nil {
		t.Error("IPv6 peer accepted")
	}
	if _, err := (Policy{Interface: "an-interface-name-too-long", Peer: netip.MustParseAddr("10.0.0.1")}).Rules(); err == nil {
		t.Error("overlong interface name accepted")
	}
	rules, err := Policy{Interface: "eth0", Peer: netip.MustParseAddr("10.0.0.1"), Ports: []uint16{2375, 2377}}.Rules()
	if err != nil || len(rules) != 4 {
		t.Fatalf("%d rules, %v; want two per port", len(rules), err)
	}
}
