package vnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/containers/gvisor-tap-vsock/pkg/services/dhcp"
	"github.com/containers/gvisor-tap-vsock/pkg/services/forwarder"
	"github.com/containers/gvisor-tap-vsock/pkg/tap"
	"github.com/containers/gvisor-tap-vsock/pkg/types"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/berthvm/berth/netproxy/hostdns"
)

// The host side of every guest connection is this stack's TCP, so its
// settings decide a transfer's speed. gvisor's defaults are tuned for a
// sandbox, not for a link to a slow emulated guest: SACK is off (a lost
// frame stalls the sender until a retransmission timeout) and the buffers
// are fixed at 1 MiB without auto-tuning.
const (
	tcpBufferDefault = 1 << 20
	tcpBufferMax     = 8 << 20
)

// tuneTCP turns on SACK and receive-buffer auto-tuning, with larger buffers.
func tuneTCP(s *stack.Stack) error {
	sack := tcpip.TCPSACKEnabled(true)
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	for _, opt := range []tcpip.SettableTransportProtocolOption{
		&sack, &moderate,
		&tcpip.TCPSendBufferSizeRangeOption{Min: tcp.MinBufferSize, Default: tcpBufferDefault, Max: tcpBufferMax},
		&tcpip.TCPReceiveBufferSizeRangeOption{Min: tcp.MinBufferSize, Default: tcpBufferDefault, Max: tcpBufferMax},
	} {
		if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, opt); err != nil {
			return fmt.Errorf("tcp option %T: %s", opt, err)
		}
	}
	return nil
}

// newStack builds the virtual network as gvisor-tap-vsock's virtualnetwork
// package does (the gateway's NIC, DHCP, NAT to the host), but keeps the
// stack, whose TCP options that package does not expose, wires the NIC to
// the VM with link instead of that package's switch, and serves Berth's own
// DNS (hostdns) on the gateway instead of that package's.
func newStack(c *types.Configuration, dnsSrv *hostdns.Server) (*stack.Stack, *link, error) {
	_, subnet, err := net.ParseCIDR(c.Subnet)
	if err != nil {
		return nil, nil, fmt.Errorf("subnet %q: %w", c.Subnet, err)
	}
	pool := tap.NewIPPool(subnet)
	pool.Reserve(net.ParseIP(c.GatewayIP), c.GatewayMacAddress)
	for ip, mac := range c.DHCPStaticLeases {
		pool.Reserve(net.ParseIP(ip), mac)
	}
	mac, err := net.ParseMAC(c.GatewayMacAddress)
	if err != nil {
		return nil, nil, fmt.Errorf("gateway MAC %q: %w", c.GatewayMacAddress, err)
	}
	own := []tcpip.Address{tcpip.AddrFrom4Slice(net.ParseIP(c.GatewayIP).To4())}
	for _, ip := range c.GatewayVirtualIPs {
		own = append(own, tcpip.AddrFrom4Slice(net.ParseIP(ip).To4()))
	}
	ep := newLink(uint32(c.MTU), tcpip.LinkAddress(mac), own)

	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4},
	})
	if err := tuneTCP(s); err != nil {
		return nil, nil, err
	}
	if err := s.CreateNIC(1, ep); err != nil {
		return nil, nil, errors.New(err.String())
	}
	if err := s.AddProtocolAddress(1, tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddrFrom4Slice(net.ParseIP(c.GatewayIP).To4()).WithPrefix(),
	}, stack.AddressProperties{}); err != nil {
		return nil, nil, errors.New(err.String())
	}
	s.SetSpoofing(1, true)
	s.SetPromiscuousMode(1, true)
	sn, err := tcpip.NewSubnet(tcpip.AddrFromSlice(subnet.IP), tcpip.MaskFromBytes(subnet.Mask))
	if err != nil {
		return nil, nil, fmt.Errorf("subnet: %w", err)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: sn, NIC: 1}})

	// The guest's own connections out: NAT to the host (the alias to its
	// loopback), everything else dialed from the host as is.
	nat := map[tcpip.Address]tcpip.Address{}
	for from, to := range c.NAT {
		nat[tcpip.AddrFrom4Slice(net.ParseIP(from).To4())] = tcpip.AddrFrom4Slice(net.ParseIP(to).To4())
	}
	var natLock sync.Mutex
	s.SetTransportProtocolHandler(tcp.ProtocolNumber, forwarder.TCP(s, nat, &natLock, false).HandlePacket)
	s.SetTransportProtocolHandler(udp.ProtocolNumber, forwarder.UDP(s, nat, &natLock, false).HandlePacket)

	gw := tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4Slice(net.ParseIP(c.GatewayIP).To4()), Port: 53}
	dnsUDP, err := gonet.DialUDP(s, &gw, nil, ipv4.ProtocolNumber)
	if err != nil {
		return nil, nil, fmt.Errorf("dns: %w", err)
	}
	dnsTCP, err := gonet.ListenTCP(s, gw, ipv4.ProtocolNumber)
	if err != nil {
		return nil, nil, fmt.Errorf("dns: %w", err)
	}
	// The stack lives as long as the process: so do its DNS listeners.
	go dnsSrv.ServeUDP(context.Background(), dnsUDP) //nolint:errcheck // runs until the stack closes
	go dnsSrv.ServeTCP(context.Background(), dnsTCP) //nolint:errcheck // runs until the stack closes
	dhcpSrv, err := dhcp.New(c, s, pool)
	if err != nil {
		return nil, nil, fmt.Errorf("dhcp: %w", err)
	}
	go dhcpSrv.Serve() //nolint:errcheck // runs until the stack closes
	return s, ep, nil
}
