// Package protocol is what Berth's host and guest agree on, and nothing
// else: guestd's options and their kernel command line codec, the guest
// API's paths and request and response types, the dial tunnel's request and
// datagram framing, and the constants both sides must hold equal (disk
// serials, ports, the virtual network's addresses, the console). Both the
// guest's server and the host's client import it; it imports neither, only
// the standard library, so a host binary links no guest implementation.
package protocol

import "net/netip"

// The virtual network's layout: the host serves it (gvisor-tap-vsock's
// defaults) and guestd configures eth0 from it.
var (
	Subnet    = netip.MustParsePrefix("192.168.127.0/24")
	GatewayIP = netip.MustParseAddr("192.168.127.1") // the host side; DNS
	GuestIP   = netip.MustParseAddr("192.168.127.2")
	// HostGatewayIP is NATed by the virtual network to the host's
	// 127.0.0.1 (host.docker.internal).
	HostGatewayIP = netip.MustParseAddr("192.168.127.254")
)

// MTU of the virtual network; the guest's tap bridge must match it.
const MTU = 1500

// Ports on the guest's eth0 reserved for the host.
const (
	EnginePort = 2375 // dockerd's TCP listener
	APIPort    = 2377 // the guest API
)

// ProxyPort is where the host serves the engine's forward proxy on the
// gateway's address (berth.proxy turns it on).
const ProxyPort = 3128

// TrustPath is, on the same listener as the proxy (an origin-form request),
// where guestd POSTs its own CA bundle's SHA-256 fingerprints (hex, one
// a line) before each engine start and gets back, as PEM, the CAs the host
// trusts that the bundle lacks.
const TrustPath = "/berth/v1/trust"

// Serial numbers the host gives the virtio-blk disks, by which guestd
// finds them.
const (
	SystemDiskSerial = "berth-system"
	DataDiskSerial   = "berth-data"
)

// The guest kernel's console devices, which the host watches for
// FatalMarker: the hypervisor decides which one the guest has.
const (
	ConsoleUART   = "ttyS0" // a 16550 serial port (QEMU, Hyper-V's COM1)
	ConsoleVirtio = "hvc0"  // a virtio console (vz has no UART)
)

// BootArgs follow the console on the guest's kernel command line: panic=-1
// so that a kernel panic ends the boot at once instead of hanging it.
// no_timer_check: an emulated CPU on a busy host misses the kernel's
// IO-APIC timer check, which then panics ("IO-APIC + timer doesn't work",
// seen here at a load of 26 on 2 cores); a virtual machine's timer needs no
// such check.
const BootArgs = "quiet panic=-1 no_timer_check"

// FatalMarker starts the console line guestd writes when the guest cannot
// boot, before or without its API; the host watches the console for it.
const FatalMarker = "berth guest failed to boot: "
