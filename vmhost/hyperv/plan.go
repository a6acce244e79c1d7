// Package hyperv is the Windows backend: a Generation 2 Hyper-V VM managed
// through WMI with github.com/containers/libhvee (podman machine's Hyper-V
// library), talked to over Hyper-V sockets.
//
// A Gen2 VM boots EFI from a disk: there is no direct kernel boot and no
// command line from the host. The guest image's hyperv/boot.vhdx holds the
// kernel and initrd as one EFI program whose built-in command line only
// says where to ask for the rest; guestd dials ConfigPort and reads the
// machine's options there. Hyper-V has no NIC on a user-mode network
// either: guestd bridges a tap device over NICPort (berth.vsock_nic) into
// the daemon's virtual network, and each shared folder is a 9P server on
// a port of its own.
//
// What a machine is made of is decided here in plain Go (plan), tested on
// every OS; only hyperv_windows.go turns a plan into WMI and socket calls.
package hyperv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/vmhost"
)

// The guest's vsock ports, each an hvsock service on the host that must
// be registered once (as administrator) under GuestCommunicationServices.
const (
	ConfigPort    uint32 = 1024 // the machine's options, for guestd
	NICPort       uint32 = 1025 // eth0's frames, each after a 4-byte length
	LogPort       uint32 = 1026 // guestd's log, besides the console
	SharePortBase uint32 = 1100 // share i is served on SharePortBase+i
	maxShares            = 64
)

// BootCmdline is the command line built into the boot disk's EFI program
// (packaging/guest/hyperv-boot.sh): enough for guestd to mount the system
// disk, send its log on LogPort and ask the host for the rest on
// ConfigPort.
const BootCmdline = "console=" + protocol.ConsoleUART + " " + protocol.BootArgs + " berth.system_disk=" + protocol.SCSILUN + "1 berth.vsock_options=1024 berth.vsock_log=1026"

// The SCSI LUNs of the system and data disks (plan.Disks).
const systemLUN, dataLUN = 1, 2

// guestFacts are what a Hyper-V guest must be told beyond BootCmdline: its
// console is COM1 (a UART), its disks are SCSI LUNs, eth0 arrives over
// vsock, and each share is a 9P server on a vsock port of its own.
var guestFacts = vmhost.GuestFacts{
	Console:        protocol.ConsoleUART,
	SystemDisk:     protocol.SCSILUN + strconv.Itoa(systemLUN),
	DataDisk:       protocol.SCSILUN + strconv.Itoa(dataLUN),
	ShareVsockBase: SharePortBase,
	VsockNIC:       NICPort,
}

// ServiceID is the hvsock service GUID that stands for a vsock port (what
// the Linux guest's hv_sock dials when it connects to that port).
func ServiceID(port uint32) string {
	return fmt.Sprintf("%08x-facb-11e6-bd58-64006a7986d3", port)
}

// Services are the ports a machine needs registered.
func Services() []uint32 {
	ports := []uint32{ConfigPort, NICPort, LogPort}
	for i := uint32(0); i < maxShares; i++ {
		ports = append(ports, SharePortBase+i)
	}
	return ports
}

// plan is the machine as Hyper-V will be asked to build it.
type plan struct {
	Name   string
	CPUs   uint64
	Memory memory
	// Disks go on SCSI controller 0 in this order (LUN 0, 1, 2): the EFI
	// boot disk first, as firmware boots the first disk it finds; the
	// boot disk's command line names LUN 1 as the system disk. Hyper-V
	// has no read-only synthetic disk: firmware only reads the boot disk,
	// and guestd mounts the system disk read-only.
	Disks []string
	// Copies are the installed guest disks and the user's copies of them
	// that Disks attach (disks.go: refreshDisks), from GuestDir.
	Copies   []copyPair
	GuestDir string
	Options  string // served on ConfigPort
	Shares   []share
	// The guest's console (COM1) goes to ConsolePipe, which Hyper-V
	// serves; the backend copies it to SerialLog.
	ConsolePipe, SerialLog string
}

// share is a host folder served over 9P on Port.
type share struct {
	vmhost.Share
	Port uint32
}

// Disks is where a guest image keeps its Hyper-V disks.
func Disks(guestDir string) (boot, system string) {
	return filepath.Join(guestDir, "hyperv", "boot.vhdx"), filepath.Join(guestDir, "hyperv", "system.vhdx")
}

func newPlan(spec vmhost.Spec) (plan, error) {
	if err := spec.Validate(); err != nil {
		return plan{}, err
	}
	if spec.Network == nil {
		return plan{}, fmt.Errorf("machine %s: Hyper-V needs the virtual network to hand the guest's link to", spec.Name)
	}
	if len(spec.Shares) > maxShares {
		return plan{}, fmt.Errorf("machine %s: %d shared folders, Hyper-V serves at most %d: share a parent folder instead of several children", spec.Name, len(spec.Shares), maxShares)
	}
	if !strings.EqualFold(filepath.Ext(spec.DataDisk), ".vhdx") {
		return plan{}, fmt.Errorf("machine %s: data disk %s: Hyper-V attaches VHDX disks only", spec.Name, spec.DataDisk)
	}
	guestDir := filepath.Dir(spec.SystemImage)
	boot, system := Disks(guestDir)
	for _, p := range []string{boot, system} {
		if _, err := os.Stat(p); err != nil {
			return plan{}, fmt.Errorf("machine %s: the guest image has no Hyper-V disks (%w): install a Windows build of Berth, whose guest image has them", spec.Name, err)
		}
	}
	userBoot, userSystem := userDisks(spec.DataDisk)
	mem := dynamicMemory(uint64(spec.MemoryMiB))
	if err := mem.valid(); err != nil {
		return plan{}, fmt.Errorf("machine %s: %w", spec.Name, err)
	}
	p := plan{
		Name: spec.Name, CPUs: uint64(spec.CPUs), Memory: mem,
		ConsolePipe: `\\.\pipe\berth-` + spec.Name + `-com1`, SerialLog: spec.SerialLog,
		Disks:    []string{userBoot, userSystem, spec.DataDisk},
		Copies:   []copyPair{{boot, userBoot}, {system, userSystem}},
		GuestDir: guestDir,
		// The boot disk's command line is fixed: the machine's own
		// options, composed from guestFacts, are served on ConfigPort.
		Options: spec.Cmdline,
	}
	for i, sh := range spec.Shares {
		p.Shares = append(p.Shares, share{Share: sh, Port: guestFacts.SharePort(i)})
	}
	return p, nil
}

// memory is the VM's Msvm_MemorySettingData, in MiB: Dynamic Memory, so
// that Hyper-V takes back what the guest does not use (through the
// guest's hv_balloon) and gives it again when the guest's demand plus
// Buffer grows.
type memory struct {
	Dynamic bool
	Startup uint64 // VirtualQuantity: what the guest boots with
	Minimum uint64 // Reservation
	Maximum uint64 // Limit
	Buffer  uint32 // TargetMemoryBuffer: percent above the demand
}

// Dynamic Memory's rules, from Microsoft's Set-VMMemory reference
// (learn.microsoft.com/powershell/module/hyper-v/set-vmmemory): Buffer
// between 5 and 2000 percent; minimum <= startup <= maximum; sizes in
// multiples of 2 MiB, as Hyper-V Manager and the cmdlets round them. A VM
// that runs Hyper-V itself (nested virtualization, never turned on here)
// must not use Dynamic Memory.
const (
	minBufferPercent, maxBufferPercent = 5, 2000
	bufferPercent                      = 25
	minFloorMiB                        = 512
)

// dynamicMemory lays out the memory of a VM configured with mib: it boots
// with all of it (the engine starts faster than Hyper-V would add memory),
// may grow to no more, and gives back down to a quarter of it, at least
// 512 MiB, the smallest the guest runs the engine in.
func dynamicMemory(mib uint64) memory {
	up2 := func(n uint64) uint64 { return (n + 1) &^ 1 }
	total := up2(mib)
	return memory{
		Dynamic: true,
		Startup: total, Maximum: total,
		Minimum: min(total, up2(max(minFloorMiB, total/4))),
		Buffer:  bufferPercent,
	}
}

// valid says whether m keeps Dynamic Memory's rules.
func (m memory) valid() error {
	switch {
	case m.Startup%2 != 0 || m.Minimum%2 != 0 || m.Maximum%2 != 0:
		return fmt.Errorf("memory %+v: sizes must be multiples of 2 MiB", m)
	case m.Minimum > m.Startup || m.Startup > m.Maximum:
		return fmt.Errorf("memory %+v: minimum <= startup <= maximum", m)
	case m.Dynamic && (m.Buffer < minBufferPercent || m.Buffer > maxBufferPercent):
		return fmt.Errorf("memory %+v: buffer must be 5 to 2000 percent", m)
	}
	return nil
}
