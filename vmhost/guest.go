package vmhost

import (
	"fmt"
	"net/netip"
	"path/filepath"

	"github.com/berthvm/berth/guestd/protocol"
)

// GuestFacts are what the guest must be told about the machine a backend
// builds: the parts of guestd's options that only the backend decides.
// Backends declare them; the daemon composes the guest's options once
// (GuestOptions) and renders them once (KernelCmdline).
type GuestFacts struct {
	// Console is the kernel's console device: protocol.ConsoleUART or
	// protocol.ConsoleVirtio.
	Console string
	// SystemDisk and DataDisk are the IDs guestd finds the disks by; empty
	// means the virtio-blk serials SystemSerial and DataSerial.
	SystemDisk, DataDisk string
	// ShareVsockBase, when not 0, says that the hypervisor exports no
	// folder by tag: share i is a 9P server on the host's vsock port
	// ShareVsockBase+i (SharePort). When 0, shares are virtiofs or 9P tags.
	ShareVsockBase uint32
	// VsockNIC, when not 0, is the host's vsock port that carries eth0.
	VsockNIC uint32
	// Rosetta, when set, is the virtiofs tag of Apple's Rosetta.
	Rosetta string
	// LinkMTU, when not 0, is the largest packet the VM's link carries if
	// larger than Ethernet's 1500 bytes. The daemon runs the virtual
	// network, eth0 and the containers' default bridge at that MTU: the
	// network's cost is per frame (a syscall and a copy at each hop, and
	// the emulated guest's driver and stack), so 64 KiB frames cost a
	// fraction of 1.5 KiB ones.
	LinkMTU int
}

// MTU is the virtual network's and eth0's MTU for this backend's machines.
func (f GuestFacts) MTU() int {
	if f.LinkMTU != 0 {
		return f.LinkMTU
	}
	return protocol.MTU
}

// SharePort is the vsock port of share i, when shares are served on vsock.
func (f GuestFacts) SharePort(i int) uint32 {
	if f.ShareVsockBase == 0 {
		return 0
	}
	return f.ShareVsockBase + uint32(i)
}

// GuestOptions composes guestd's options for a machine: the standard
// network layout with hostGateway (where the host's loopback is reached),
// the shares (by tag, at their VM paths) and the backend's facts.
func GuestOptions(hostGateway netip.Addr, shares []protocol.Share, f GuestFacts) protocol.Options {
	o := protocol.DefaultOptions()
	o.HostGateway = hostGateway
	if f.SystemDisk != "" {
		o.SystemDisk = f.SystemDisk
	}
	if f.DataDisk != "" {
		o.DataDisk = f.DataDisk
	}
	o.VsockNIC = f.VsockNIC
	o.MTU = f.MTU()
	o.Rosetta = f.Rosetta
	for i, sh := range shares {
		sh.VsockPort = f.SharePort(i)
		o.Shares = append(o.Shares, sh)
	}
	return o
}

// maxCmdline is x86's COMMAND_LINE_SIZE, less room for the terminator.
const maxCmdline = 2047

// KernelCmdline renders o after the console the backend declares: the
// guest's kernel command line (Hyper-V serves it to guestd instead).
func KernelCmdline(o protocol.Options, f GuestFacts) (string, error) {
	if f.Console == "" {
		return "", fmt.Errorf("the backend declares no guest console")
	}
	if err := o.Validate(); err != nil {
		return "", fmt.Errorf("guest options: %w", err)
	}
	line := o.KernelCmdline(f.Console)
	if len(line) > maxCmdline {
		return "", fmt.Errorf("the shared folders do not fit on the VM's kernel command line (%d bytes, at most %d): share fewer folders, or a parent folder instead of several children (`berth start --unmount PATH`)", len(line), maxCmdline)
	}
	return line, nil
}

// GuestFilesOf are the files in guestDir that b's machines boot from.
func GuestFilesOf(b Backend, guestDir string) []string {
	if f, ok := b.(GuestFiler); ok {
		return f.GuestFiles(guestDir)
	}
	var files []string
	for _, f := range []string{"vmlinuz", "initrd.img", "system.img"} {
		files = append(files, filepath.Join(guestDir, f))
	}
	return files
}
