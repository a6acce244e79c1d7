//go:build linux

// Package netconf brings up the guest's network: loopback, and eth0 with a
// static address behind the host's virtual network (which also answers DNS).
package netconf

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Interface is one statically configured link.
type Interface struct {
	Name    string
	Address netip.Prefix
	Gateway netip.Addr
	MTU     int
}

// Up configures lo and the interface, waiting up to wait for the interface to
// appear (its driver may still be probing).
func Up(ifc Interface, wait time.Duration) error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	var link netlink.Link
	deadline := time.Now().Add(wait)
	for {
		link, err = netlink.LinkByName(ifc.Name)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("network interface %s did not appear within %v (is the virtio_net module loaded and a NIC attached?): %w", ifc.Name, wait, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := netlink.LinkSetMTU(link, ifc.MTU); err != nil {
		return fmt.Errorf("%s mtu %d: %w", ifc.Name, ifc.MTU, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{
		IP:   ifc.Address.Addr().AsSlice(),
		Mask: net.CIDRMask(ifc.Address.Bits(), 32),
	}}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("%s address %s: %w", ifc.Name, ifc.Address, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("%s up: %w", ifc.Name, err)
	}
	route := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: ifc.Gateway.AsSlice()}
	if err := netlink.RouteReplace(route); err != nil {
		return fmt.Errorf("default route via %s: %w", ifc.Gateway, err)
	}
	return nil
}

// Identity writes the hostname, /etc/hosts and /etc/resolv.conf under root.
func Identity(root, hostname string, dns []netip.Addr) error {
	if err := unix.Sethostname([]byte(hostname)); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	files := map[string]string{
		"etc/hostname":    hostname + "\n",
		"etc/hosts":       Hosts(hostname),
		"etc/resolv.conf": ResolvConf(dns),
	}
	for name, content := range files {
		if err := os.WriteFile(root+"/"+name, []byte(content), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// Hosts is the guest's /etc/hosts.
func Hosts(hostname string) string {
	return fmt.Sprintf("127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n", hostname)
}

// ResolvConf is the guest's /etc/resolv.conf; dockerd copies it into
// containers on the default bridge.
func ResolvConf(dns []netip.Addr) string {
	var b strings.Builder
	for _, a := range dns {
		fmt.Fprintf(&b, "nameserver %s\n", a)
	}
	return b.String()
}
