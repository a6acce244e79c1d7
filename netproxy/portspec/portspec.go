// Package portspec spells a published container port as `docker run -p`
// takes it. The daemon's port forwarder and the dashboard both show it;
// it is a leaf package so that the dashboard links no forwarder.
package portspec

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// Published is [IP:]PORT:CTRPORT, then /PROTO unless it is TCP (or not
// given); ip is the zero Addr when the user gave none.
func Published(ip netip.Addr, port, ctrPort int, proto string) string {
	s := fmt.Sprintf("%d:%d", port, ctrPort)
	if ip.IsValid() {
		s = net.JoinHostPort(ip.String(), strconv.Itoa(port)) + ":" + strconv.Itoa(ctrPort)
	}
	if proto != "" && proto != "tcp" {
		s += "/" + proto
	}
	return s
}
