package portfwd

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
)

// CheckHostIP says whether Berth can publish a port on the host address ip.
// It can on loopback and on the wildcards: the engine binds those in the
// VM, where the forwarder reaches them. Any other address would have the
// engine bind an address the VM does not have. hostHas, if set, tells an
// address of this host from one it does not have, for the message.
func CheckHostIP(ip netip.Addr, hostHas func(netip.Addr) bool) error {
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsUnspecified() {
		return nil
	}
	why := "it is not a loopback address, and the engine runs in Berth's VM, which has no other address of the host"
	if hostHas != nil && !hostHas(ip) {
		why = "this host has no such address"
	}
	return fmt.Errorf("cannot publish on %s: %s; publish on the host's loopback "+
		"(127.0.0.1 or ::1; the default, e.g. -p 8080:80) or on all its addresses (0.0.0.0 or ::, e.g. -p 0.0.0.0:8080:80)", ip, why)
}

// VetCreate checks the published ports of a container-create request body
// (docker run -p) and refuses addresses Berth cannot publish on, before
// the engine creates anything. It leaves the body as it is: docker ps,
// port and inspect show what the user asked.
func VetCreate(body []byte) ([]byte, error) {
	var req struct {
		HostConfig *struct {
			PortBindings map[string][]binding
		}
	}
	if err := json.Unmarshal(body, &req); err != nil || req.HostConfig == nil {
		return body, nil // not ours to judge; the engine answers
	}
	ports := make([]string, 0, len(req.HostConfig.PortBindings))
	for p := range req.HostConfig.PortBindings {
		ports = append(ports, p)
	}
	sort.Strings(ports)
	for _, p := range ports {
		for _, b := range req.HostConfig.PortBindings[p] {
			if b.HostIP == "" {
				continue
			}
			ip, err := netip.ParseAddr(strings.Trim(b.HostIP, "[]"))
			if err != nil {
				return nil, fmt.Errorf("published port %s: host address %q is not an IP address", p, b.HostIP)
			}
			if err := CheckHostIP(ip, hostHasAddr); err != nil {
				return nil, fmt.Errorf("published port %s: %w", p, err)
			}
		}
	}
	return body, nil
}

// hostHasAddr reports whether one of the host's interfaces has ip.
func hostHasAddr(ip netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return true // cannot tell: say the less specific thing
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if x, ok := netip.AddrFromSlice(n.IP); ok && x.Unmap() == ip {
				return true
			}
		}
	}
	return false
}
