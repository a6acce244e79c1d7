package libvirt

import (
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/berthvm/berth/vmhost"
)

// Domain XML, only the parts Berth sets. See https://libvirt.org/formatdomain.html.
type domainXML struct {
	XMLName xml.Name `xml:"domain"`
	Type    string   `xml:"type,attr"`
	QemuNS  string   `xml:"xmlns:qemu,attr"`
	Name    string   `xml:"name"`
	Memory  sizeXML  `xml:"memory"`
	// MemoryBacking is shared memory, which vhost-user devices (virtiofsd)
	// need to reach the guest's buffers.
	MemoryBacking *memoryBackingXML `xml:"memoryBacking,omitempty"`
	VCPU          int               `xml:"vcpu"`
	OS            osXML             `xml:"os"`
	Features      struct {
		ACPI struct{} `xml:"acpi"`
	} `xml:"features"`
	CPU        *cpuXML      `xml:"cpu,omitempty"`
	OnPoweroff string       `xml:"on_poweroff"`
	OnReboot   string       `xml:"on_reboot"`
	OnCrash    string       `xml:"on_crash"`
	Devices    devicesXML   `xml:"devices"`
	SecLabel   *secLabelXML `xml:"seclabel,omitempty"`
	QemuCmd    qemuCmdXML   `xml:"qemu:commandline"`
}

type sizeXML struct {
	Unit  string `xml:"unit,attr"`
	Value int    `xml:",chardata"`
}

type osXML struct {
	Type struct {
		Arch    string `xml:"arch,attr"`
		Machine string `xml:"machine,attr"`
		Value   string `xml:",chardata"`
	} `xml:"type"`
	Kernel  string `xml:"kernel"`
	Initrd  string `xml:"initrd"`
	Cmdline string `xml:"cmdline"`
}

type memoryBackingXML struct {
	Source struct {
		Type string `xml:"type,attr"`
	} `xml:"source"`
	Access struct {
		Mode string `xml:"mode,attr"`
	} `xml:"access"`
}

// filesystemXML is a shared folder on QEMU's built-in 9p server (virtiofs
// shares are vhost-user devices on QEMU's command line).
type filesystemXML struct {
	Type       string `xml:"type,attr"`
	AccessMode string `xml:"accessmode,attr"`
	Driver     struct {
		Type string `xml:"type,attr"`
	} `xml:"driver"`
	Source struct {
		Dir string `xml:"dir,attr"`
	} `xml:"source"`
	Target struct {
		Dir string `xml:"dir,attr"`
	} `xml:"target"`
	ReadOnly *struct{} `xml:"readonly,omitempty"`
}

type cpuXML struct {
	Mode string `xml:"mode,attr"`
}

type devicesXML struct {
	Disks       []diskXML       `xml:"disk"`
	Filesystems []filesystemXML `xml:"filesystem"`
	Serial      struct {
		Type   string `xml:"type,attr"`
		Source struct {
			Path string `xml:"path,attr"`
		} `xml:"source"`
	} `xml:"serial"`
	RNG struct {
		Model   string `xml:"model,attr"`
		Backend struct {
			Model string `xml:"model,attr"`
			Value string `xml:",chardata"`
		} `xml:"backend"`
	} `xml:"rng"`
	MemBalloon struct {
		Model             string `xml:"model,attr"`
		FreePageReporting string `xml:"freePageReporting,attr,omitempty"`
	} `xml:"memballoon"`
}

type diskXML struct {
	Type   string `xml:"type,attr"`
	Device string `xml:"device,attr"`
	Driver struct {
		Name    string `xml:"name,attr"`
		Type    string `xml:"type,attr"`
		Cache   string `xml:"cache,attr,omitempty"`
		Discard string `xml:"discard,attr,omitempty"`
		// ErrorPolicy is what QEMU does when a write fails on the host.
		ErrorPolicy string `xml:"error_policy,attr,omitempty"`
	} `xml:"driver"`
	Source struct {
		File string `xml:"file,attr"`
	} `xml:"source"`
	Target struct {
		Dev string `xml:"dev,attr"`
		Bus string `xml:"bus,attr"`
	} `xml:"target"`
	ReadOnly *struct{} `xml:"readonly,omitempty"`
	Serial   string    `xml:"serial"`
}

// secLabelXML runs QEMU as the daemon's own user, so it can open the 0700
// run directory's sockets and the user's disk images, which libvirt's
// default qemu user could not.
type secLabelXML struct {
	Type    string `xml:"type,attr"`
	Model   string `xml:"model,attr"`
	Relabel string `xml:"relabel,attr"`
	Label   string `xml:"label"`
}

type qemuCmdXML struct {
	Args []struct {
		Value string `xml:"value,attr"`
	} `xml:"qemu:arg"`
}

// DomainOptions are the host facts the XML depends on.
type DomainOptions struct {
	KVM      bool   // hardware virtualization works; else TCG emulation
	Arch     string // libvirt arch name: x86_64, aarch64
	UID, GID int    // QEMU runs as this user (the system daemon)
	Session  bool   // the user's session daemon: QEMU runs as the user already
	// ShareFS is "virtiofs" (a vhost-user device per share, served by the
	// virtiofsd Berth runs on a socket in ShareDir) or "9p" (QEMU's own
	// server).
	ShareFS  string
	ShareDir string
	// FreePageReporting has the guest report the memory it frees, in
	// 2 MiB blocks, and QEMU give it back to the host (canReportFreePages).
	FreePageReporting bool
}

// Free page reporting on the virtio balloon came with QEMU 5.1
// (virtio-balloon's free-page-reporting property) and libvirt 6.9
// (memballoon's freePageReporting attribute). With memfd memory, which
// virtiofs needs, QEMU punches the reported pages out of the memfd.
const (
	freePageReportingLibvirt = 6_009_000
	freePageReportingQEMU    = 5_001_000
)

// canReportFreePages says whether libvirt and QEMU versions (major*1e6 +
// minor*1e3 + micro) support free page reporting.
func canReportFreePages(libvirt, qemu uint64) bool {
	return libvirt >= freePageReportingLibvirt && qemu >= freePageReportingQEMU
}

// maxShares is how many virtiofs devices fit in the PCI slots Berth
// assigns itself (0x11 to 0x1f; the NIC is at 0x10).
const maxShares = 15

// DomainXML renders the libvirt domain for spec.
func DomainXML(spec vmhost.Spec, o DomainOptions) (string, error) {
	if err := spec.Validate(); err != nil {
		return "", err
	}
	d := domainXML{
		Type:       "qemu",
		QemuNS:     "http://libvirt.org/schemas/domain/qemu/1.0",
		Name:       spec.Name,
		Memory:     sizeXML{Unit: "MiB", Value: spec.MemoryMiB},
		VCPU:       spec.CPUs,
		OnPoweroff: "destroy",
		// The guest never reboots by itself but on a kernel panic
		// (panic=-1): the VM stops, and the daemon says why.
		OnReboot: "destroy",
		OnCrash:  "destroy",
	}
	if !o.Session {
		d.SecLabel = &secLabelXML{Type: "static", Model: "dac", Relabel: "no", Label: fmt.Sprintf("+%d:+%d", o.UID, o.GID)}
	}
	if o.KVM {
		d.Type = "kvm"
		d.CPU = &cpuXML{Mode: "host-passthrough"}
	} else {
		// TCG: "max" exposes every feature QEMU can emulate.
		d.CPU = &cpuXML{Mode: "maximum"}
	}
	d.OS.Type.Arch, d.OS.Type.Value = o.Arch, "hvm"
	d.OS.Type.Machine = "q35"
	if o.Arch == "aarch64" {
		d.OS.Type.Machine = "virt"
	}
	d.OS.Kernel, d.OS.Initrd, d.OS.Cmdline = spec.Kernel, spec.Initrd, spec.Cmdline

	sys := disk(spec.SystemImage, "vda", vmhost.SystemSerial)
	sys.ReadOnly = &struct{}{}
	data := disk(spec.DataDisk, "vdb", vmhost.DataSerial)
	// No host page cache for the data disk: what the guest syncs is on disk.
	data.Driver.Cache, data.Driver.Discard = "none", "unmap"
	// A full host disk pauses the VM (the daemon resumes it once there is
	// room) instead of failing the guest's writes with I/O errors, after
	// which ext4 in the guest gives up. QEMU's default for virtio-blk,
	// stated so that it stays.
	data.Driver.ErrorPolicy = "enospace"
	d.Devices.Disks = []diskXML{sys, data}
	// The NIC: libvirt has no interface type for a QEMU stream socket, so it
	// goes on QEMU's command line. The explicit PCI address keeps it clear
	// of the slots libvirt assigns.
	args := []string{
		"-netdev", "stream,id=berthnet,server=off,addr.type=unix,addr.path=" + qemuEscape(spec.NetSocket),
		"-device", "virtio-net-pci,netdev=berthnet,mac=" + spec.MAC + ",bus=pcie.0,addr=0x10",
	}
	switch {
	case len(spec.Shares) == 0:
	case o.ShareFS == "virtiofs":
		if len(spec.Shares) > maxShares {
			return "", fmt.Errorf("machine %s: %d shared folders, at most %d: share a parent folder instead of several children", spec.Name, len(spec.Shares), maxShares)
		}
		// vhost-user devices reach the guest's buffers through shared memory.
		d.MemoryBacking = &memoryBackingXML{}
		d.MemoryBacking.Source.Type, d.MemoryBacking.Access.Mode = "memfd", "shared"
		for i, sh := range spec.Shares {
			id := fmt.Sprintf("berthfs%d", i)
			args = append(args,
				"-chardev", "socket,id="+id+",path="+qemuEscape(shareSocket(o.ShareDir, sh.Tag)),
				"-device", fmt.Sprintf("vhost-user-fs-pci,chardev=%s,tag=%s,queue-size=1024,bus=pcie.0,addr=%#x", id, qemuEscape(sh.Tag), 0x11+i))
		}
	default:
		for _, sh := range spec.Shares {
			d.Devices.Filesystems = append(d.Devices.Filesystems, filesystem9p(sh))
		}
	}
	d.Devices.Serial.Type = "file"
	d.Devices.Serial.Source.Path = spec.SerialLog
	d.Devices.RNG.Model = "virtio"
	d.Devices.RNG.Backend.Model, d.Devices.RNG.Backend.Value = "random", "/dev/urandom"
	d.Devices.MemBalloon.Model = "virtio"
	if o.FreePageReporting {
		d.Devices.MemBalloon.FreePageReporting = "on"
	}

	for _, a := range args {
		d.QemuCmd.Args = append(d.QemuCmd.Args, struct {
			Value string `xml:"value,attr"`
		}{a})
	}
	b, err := xml.MarshalIndent(d, "", "  ")
	if err != nil {
		return "", fmt.Errorf("domain XML: %w", err)
	}
	return string(b), nil
}

// filesystem9p renders a share served by QEMU's own 9p server. "squash"
// (security_model=none) creates files as QEMU's user, the daemon's user,
// with the modes the guest asks for.
func filesystem9p(sh vmhost.Share) filesystemXML {
	var f filesystemXML
	f.Type = "mount"
	f.Source.Dir, f.Target.Dir = sh.HostPath, sh.Tag
	f.AccessMode, f.Driver.Type = "squash", "path"
	if sh.ReadOnly {
		f.ReadOnly = &struct{}{}
	}
	return f
}

func disk(file, dev, serial string) diskXML {
	var d diskXML
	d.Type, d.Device = "file", "disk"
	d.Driver.Name, d.Driver.Type = "qemu", "raw"
	d.Source.File = file
	d.Target.Dev, d.Target.Bus = dev, "virtio"
	d.Serial = serial
	return d
}

// qemuEscape doubles commas, QEMU's escape inside option values.
func qemuEscape(s string) string { return strings.ReplaceAll(s, ",", ",,") }
