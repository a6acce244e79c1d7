package hyperv

import "strings"

// hvAddr is a Hyper-V socket address: a VM's ID and a service ID.
type hvAddr struct{ VM, Service string }

// wildcardVM is HV_GUID_WILDCARD: a listener bound to it takes every VM's
// connections to its service.
const wildcardVM = "00000000-0000-0000-0000-000000000000"

// bindAddr is where a machine's link on port listens: the service the
// guest's vsock port stands for, bound to the machine's own VM ID. The
// guest's first ports are fixed (the boot disk's command line names them),
// so every user's machine uses the same services; a listener bound to the
// wildcard would hold a service for the whole host, and a second user's
// daemon could not listen while the first runs. Bound to its VM, each
// daemon has its own (Microsoft, "Make your own integration services":
// a listener binds a VM ID or a wildcard; WSL binds each per-user utility
// VM's fixed ports to that VM's ID, hvsocket::Listen(VmId, Port)).
func bindAddr(vmID string, port uint32) hvAddr {
	return hvAddr{VM: strings.ToLower(vmID), Service: ServiceID(port)}
}
