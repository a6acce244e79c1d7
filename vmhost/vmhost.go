// Package vmhost is the hypervisor side of a Berth machine: what a machine
// is made of (Spec) and the operations every backend provides (Backend).
// Backends: vmhost/libvirt (Linux), vmhost/vz (macOS), vmhost/hyperv
// (Windows); what a backend may do beyond Backend is in capabilities.go.
// Graceful shutdown goes through the guest API, above this layer: a backend
// only starts, observes, kills and deletes.
package vmhost

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/berthvm/berth/guestd/protocol"
)

// The guest finds its disks by these virtio-blk serials.
const (
	SystemSerial = protocol.SystemDiskSerial
	DataSerial   = protocol.DataDiskSerial
)

// Spec is everything a backend needs to define and boot the machine.
type Spec struct {
	Name      string
	CPUs      int
	MemoryMiB int

	// Direct kernel boot of the guest image. Cmdline is composed from the
	// backend's GuestFacts (KernelCmdline); backends pass it on unedited.
	Kernel  string
	Initrd  string
	Cmdline string

	SystemImage string // read-only, virtio-blk serial SystemSerial
	DataDisk    string // raw, read-write, virtio-blk serial DataSerial

	// NetSocket is the unix socket of the host's virtual network, spoken
	// with QEMU's stream-netdev framing, for backends whose VM process
	// connects by itself (QEMU). Network takes the VM's end of the link
	// from backends that make it themselves (vz's socket pair, Hyper-V's
	// hvsock). MAC is the NIC's address.
	NetSocket string
	Network   Network
	MAC       string

	SerialLog string // where the guest console goes

	// Shares are host folders exported to the guest, each under its tag;
	// the guest mounts them (guestd/shares).
	Shares []Share

	// Progress, when set, hears what the backend decides that the user
	// should see while the machine starts (e.g. a fall back to emulation).
	Progress func(step string)
}

// Tell passes a step to Progress, if any.
func (s Spec) Tell(step string) {
	if s.Progress != nil {
		s.Progress(step)
	}
}

// Network is the host's virtual network, to which a backend hands the
// VM's end of the link. Each call carries Ethernet frames until the
// connection or ctx ends.
type Network interface {
	// ServeDatagram: one frame per datagram (a SOCK_DGRAM socket pair, as
	// vz's file-handle attachment uses).
	ServeDatagram(ctx context.Context, conn net.Conn) error
	// ServeStream: a stream with each frame after its 4-byte big-endian
	// length (QEMU's stream netdev; guestd's tap bridge over hvsock).
	ServeStream(ctx context.Context, conn net.Conn) error
}

// Share is a host folder the guest can mount by Tag.
type Share struct {
	Tag      string
	HostPath string
	ReadOnly bool
}

// Validate checks the parts every backend needs.
func (s Spec) Validate() error {
	switch {
	case s.Name == "":
		return errors.New("machine spec: no name")
	case s.CPUs < 1:
		return fmt.Errorf("machine %s: %d CPUs", s.Name, s.CPUs)
	case s.MemoryMiB < 256:
		return fmt.Errorf("machine %s: %d MiB of memory is too little to boot", s.Name, s.MemoryMiB)
	case s.Kernel == "" || s.Initrd == "" || s.SystemImage == "" || s.DataDisk == "":
		return fmt.Errorf("machine %s: kernel, initrd, system image and data disk are all needed", s.Name)
	case (s.NetSocket == "" && s.Network == nil) || s.MAC == "":
		return fmt.Errorf("machine %s: no network attachment", s.Name)
	}
	tags := map[string]bool{}
	for _, sh := range s.Shares {
		if sh.Tag == "" || tags[sh.Tag] || sh.HostPath == "" {
			return fmt.Errorf("machine %s: shared folder %q needs a path and a tag of its own", s.Name, sh.HostPath)
		}
		tags[sh.Tag] = true
	}
	return nil
}

// State is the hypervisor's view of the machine.
type State string

// The states a backend reports.
const (
	Stopped State = "stopped"
	Running State = "running"
	Paused  State = "paused"
	// Suspended is a pause on purpose (a user's `virsh suspend`): the VM
	// goes on where it was when resumed, with its clock behind.
	Suspended State = "suspended"
	Crashed   State = "crashed"
	NotFound  State = "not-found"
)

// Backend runs machines on one hypervisor.
type Backend interface {
	// Start defines the machine from spec (replacing an older definition)
	// and boots it.
	Start(ctx context.Context, spec Spec) error
	// Kill stops the machine at once, like pulling the plug: the daemon
	// calls it when the guest API's shutdown failed or was skipped.
	Kill(ctx context.Context, name string) error
	State(ctx context.Context, name string) (State, error)
	// Watch sends the machine's state on every change until ctx ends:
	// changes only, not the state it starts in, and defining the machine
	// is no change. The daemon watches before Start.
	Watch(ctx context.Context, name string) (<-chan State, error)
	// Delete removes the machine's definition (not its disks).
	Delete(ctx context.Context, name string) error
	// GuestFacts are what the guest must be told about the machines this
	// backend builds (console, disk IDs, how shares and the NIC arrive).
	GuestFacts() GuestFacts
	Close() error
}
