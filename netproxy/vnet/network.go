// Package vnet is the guest's user-mode virtual network (gvisor-tap-vsock's
// parts, in process): the VM's link, DHCP, DNS (netproxy/hostdns) that
// answers as the host resolves, and NAT to the host. Nothing listens on the
// host's real network for the guest; the host reaches guest services by
// dialing inside this network. It is the only package of Berth that links
// gvisor.
package vnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"

	"github.com/containers/gvisor-tap-vsock/pkg/types"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/netproxy/hostdns"
)

// Config lays out the virtual network.
type Config struct {
	Subnet    netip.Prefix
	Gateway   netip.Addr // the host's address in the network; serves DNS
	Guest     netip.Addr
	GuestMAC  string
	HostAlias netip.Addr // reaches the host's 127.0.0.1 (host.docker.internal)
	MTU       int
	// DNS answers the guest's queries for names outside Berth's own
	// zones, as the host resolves them; nil: they are SERVFAIL.
	DNS hostdns.Upstream
}

// DefaultConfig is the layout guestd's default options expect.
func DefaultConfig() Config {
	return Config{
		Subnet:    protocol.Subnet,
		Gateway:   protocol.GatewayIP,
		Guest:     protocol.GuestIP,
		GuestMAC:  "5a:94:ef:e4:0c:ee",
		HostAlias: protocol.HostGatewayIP,
		MTU:       protocol.MTU,
	}
}

// Network is a running virtual network.
type Network struct {
	cfg   Config
	stack *stack.Stack
	link  *link
	log   *slog.Logger
}

// New starts the virtual network's stack (gateway, DHCP, DNS, NAT).
func New(cfg Config, log *slog.Logger) (*Network, error) {
	host := map[string]netip.Addr{"host": cfg.HostAlias, "gateway": cfg.Gateway}
	dnsSrv := hostdns.New(hostdns.Options{
		Upstream: cfg.DNS,
		Zones:    []hostdns.Zone{{Name: "docker.internal.", Records: host}, {Name: "berth.internal.", Records: host}},
		Log:      log,
	})
	s, l, err := newStack(&types.Configuration{
		MTU:               cfg.MTU,
		Subnet:            cfg.Subnet.String(),
		GatewayIP:         cfg.Gateway.String(),
		GatewayMacAddress: "5a:94:ef:e4:0c:dd",
		DHCPStaticLeases:  map[string]string{cfg.Guest.String(): cfg.GuestMAC},
		// The alias is NATed to the host's loopback: containers reach host
		// services as host.docker.internal.
		NAT:               map[string]string{cfg.HostAlias.String(): "127.0.0.1"},
		GatewayVirtualIPs: []string{cfg.HostAlias.String()},
	}, dnsSrv)
	if err != nil {
		return nil, fmt.Errorf("virtual network: %w", err)
	}
	return &Network{cfg: cfg, stack: s, link: l, log: log}, nil
}

// Config returns the network's layout.
func (n *Network) Config() Config { return n.cfg }

// ServeQEMU attaches VMs that connect to l with QEMU's stream netdev framing
// (4-byte big-endian length before each frame). It serves one VM connection
// at a time, the next after the previous ends (a rebooted VM reconnects),
// until ctx ends or l is closed.
func (n *Network) ServeQEMU(ctx context.Context, l net.Listener) error {
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	for {
		conn, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("accept VM network connection: %w", err)
		}
		n.log.Debug("VM attached to the virtual network")
		if err := n.ServeStream(ctx, conn); err != nil {
			n.log.Debug("VM network connection ended", "err", err)
		}
	}
}

// ServeStream attaches a VM through conn, each frame after its 4-byte
// big-endian length (QEMU's stream netdev, guestd's tap bridge), until conn
// or ctx ends; it closes conn.
func (n *Network) ServeStream(ctx context.Context, conn net.Conn) error {
	return serveConn(ctx, conn, streamFraming, n.link)
}

// ServeDatagram attaches a VM through conn, one frame per datagram (vz's
// file-handle attachment on a SOCK_DGRAM socket pair), until conn or ctx
// ends; it closes conn.
func (n *Network) ServeDatagram(ctx context.Context, conn net.Conn) error {
	return serveConn(ctx, conn, datagramFraming, n.link)
}

func serveConn(ctx context.Context, conn net.Conn, fr framing, l *link) error {
	defer conn.Close()
	// The link's read does not watch ctx: closing conn ends it.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	err := l.serve(ctx, conn, fr)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// DialGuest opens a TCP connection to a guest port inside the network.
func (n *Network) DialGuest(ctx context.Context, port int) (net.Conn, error) {
	addr := net.JoinHostPort(n.cfg.Guest.String(), strconv.Itoa(port))
	c, err := n.dialGuest(ctx, port)
	if err != nil {
		return nil, fmt.Errorf("dial guest %s: %w", addr, err)
	}
	return c, nil
}

// Dial opens a TCP connection to addr, which must be the guest's.
func (n *Network) Dial(ctx context.Context, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if host != n.cfg.Guest.String() {
		return nil, fmt.Errorf("dial %s: only the guest (%s) is reachable", addr, n.cfg.Guest)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("dial %s: bad port: %w", addr, err)
	}
	return n.dialGuest(ctx, int(p))
}

func (n *Network) dialGuest(ctx context.Context, port int) (net.Conn, error) {
	to := tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4Slice(n.cfg.Guest.AsSlice()), Port: uint16(port)}
	return gonet.DialContextTCP(ctx, n.stack, to, ipv4.ProtocolNumber)
}

// Dialer adapts Dial to the signature http.Transport wants (always TCP).
func (n *Network) Dialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, _, addr string) (net.Conn, error) {
		return n.Dial(ctx, addr)
	}
}

// ListenGateway listens on the gateway's own address inside the network,
// for a service the guest reaches there (the engine's forward proxy).
func (n *Network) ListenGateway(port int) (net.Listener, error) {
	addr := tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4Slice(n.cfg.Gateway.AsSlice()), Port: uint16(port)}
	l, err := gonet.ListenTCP(n.stack, addr, ipv4.ProtocolNumber)
	if err != nil {
		return nil, fmt.Errorf("listen on %s:%d in the virtual network: %w", n.cfg.Gateway, port, err)
	}
	return l, nil
}
