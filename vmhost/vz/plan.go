// Package vz is the macOS backend: Apple's Virtualization framework through
// github.com/Code-Hex/vz/v3. The VM lives inside the daemon's process.
//
// What a machine is made of is decided here in plain Go (plan), tested on
// every OS; only vz_darwin.go turns a plan into framework calls.
package vz

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/vmhost"
)

// Options tune the backend.
type Options struct {
	// Rosetta shares Apple's Rosetta into the guest under RosettaTag, so
	// amd64 containers run translated on Apple silicon (arm64 only).
	Rosetta bool
}

// RosettaTag is the virtiofs tag of the Rosetta share.
const RosettaTag = "rosetta"

// plan is the machine as vz will be asked to build it.
type plan struct {
	Kernel, Initrd, Cmdline string
	CPUs                    uint
	MemoryBytes             uint64
	Disks                   []disk
	MAC                     string
	Shares                  []vmhost.Share
	SerialLog               string
	Rosetta                 bool
	// Balloon adds the traditional virtio balloon, the framework's only
	// way to take memory back from a guest (balloon.go).
	Balloon bool
}

// disk is a virtio-blk device; the guest finds it by ID (its serial).
type disk struct {
	Path     string
	ReadOnly bool
	ID       string
	Caching  diskCaching
	Sync     diskSync
}

// diskCaching and diskSync mirror vz.DiskImageCachingMode and
// vz.DiskImageSynchronizationMode (vz_darwin.go checks the values).
type (
	diskCaching int
	diskSync    int
)

// Every disk is cached by the host and fsync'd when the guest flushes, as
// Lima and vfkit do: the framework's Automatic caching corrupted guests'
// disks on Apple silicon (UTM issue 4840).
const (
	cachingCached diskCaching = 2
	syncFsync     diskSync    = 2
)

// newPlan checks spec for vz on arch (GOARCH) and lays the machine out.
func newPlan(spec vmhost.Spec, arch string, o Options) (plan, error) {
	if err := spec.Validate(); err != nil {
		return plan{}, err
	}
	if spec.Network == nil {
		return plan{}, fmt.Errorf("machine %s: vz needs the virtual network to hand the NIC's socket to", spec.Name)
	}
	if o.Rosetta && arch != "arm64" {
		return plan{}, errors.New("Rosetta runs amd64 containers on Apple silicon only; this Mac is Intel, where they run natively")
	}
	if err := checkKernel(spec.Kernel, arch); err != nil {
		return plan{}, fmt.Errorf("machine %s: %w", spec.Name, err)
	}
	for _, sh := range spec.Shares {
		if sh.Tag == RosettaTag && o.Rosetta {
			return plan{}, fmt.Errorf("machine %s: share tag %q is Rosetta's", spec.Name, sh.Tag)
		}
	}
	return plan{
		Kernel: spec.Kernel, Initrd: spec.Initrd,
		Cmdline:     spec.Cmdline,
		CPUs:        uint(spec.CPUs),
		MemoryBytes: uint64(spec.MemoryMiB) << 20,
		Disks: []disk{
			{Path: spec.SystemImage, ReadOnly: true, ID: vmhost.SystemSerial, Caching: cachingCached, Sync: syncFsync},
			{Path: spec.DataDisk, ID: vmhost.DataSerial, Caching: cachingCached, Sync: syncFsync},
		},
		MAC:       spec.MAC,
		Shares:    spec.Shares,
		SerialLog: spec.SerialLog,
		Rosetta:   o.Rosetta,
		Balloon:   true,
	}, nil
}

// guestFacts are what a vz guest must be told: its console is vz's serial
// port, a virtio console (vz has no 16550 UART); its disks are virtio-blk
// by serial, its shares virtiofs tags; Rosetta, when shared, is a virtiofs
// tag too, which guestd registers.
func guestFacts(o Options) vmhost.GuestFacts {
	f := vmhost.GuestFacts{Console: protocol.ConsoleVirtio}
	if o.Rosetta {
		f.Rosetta = RosettaTag
	}
	return f
}

// Kernel formats, by their magic (file(1)'s Magdir/linux has the same).
var (
	arm64ImageMagic = []byte("ARM\x64") // at 0x38 of an arm64 Image
	bzImageMagic    = []byte("HdrS")    // at 0x202: the x86 boot protocol's setup header
	elfMagic        = []byte("\x7fELF") // at 0: a vmlinux
	gzipMagic       = []byte{0x1f, 0x8b}
)

// checkKernel refuses kernels vz cannot boot.
//
// On arm64 VZLinuxBootLoader takes only an uncompressed Image (magic
// "ARM\x64" at 0x38): the arm64 kernel has no decompressor of its own, and
// a gzip'd vmlinuz hangs the VM at start (vfkit's doc/usage.md, "Linux
// bootloader", and its pkg/vf/bootloader.go check the same magic).
//
// On amd64 (Intel Macs) it takes a bzImage, the x86 boot protocol's
// format (setup header "HdrS" at 0x202), whatever compression the kernel
// carries inside: the framework loads it as a boot loader would and the
// kernel's own stub decompresses itself. That is the format every public
// x86 use of VZLinuxBootLoader boots: Code-Hex/vz's own tests on Intel
// (its Makefile's download_kernel target renames PUI PUI Linux's x86_64
// bzImage to the Image its virtualization_test.go boots through
// NewLinuxBootLoader; on arm64 it gunzips Image.gz instead). Apple's
// reference for VZLinuxBootLoader names no x86 format, and no source read
// (Code-Hex/vz, vfkit, Lima's vz driver) shows an ELF vmlinux, the PVH
// entry point QEMU boots on Linux hosts, starting on vz. So an ELF vmlinux
// is refused here with a clear message instead of a VM that never prints.
func checkKernel(path, arch string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("kernel: %w", err)
	}
	defer f.Close()
	head := make([]byte, 0x210)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("kernel %s: %w", path, err)
	}
	head = head[:n]
	at := func(off int, magic []byte) bool {
		return len(head) >= off+len(magic) && bytes.Equal(head[off:off+len(magic)], magic)
	}
	switch arch {
	case "arm64":
		switch {
		case at(0x38, arm64ImageMagic):
			return nil
		case at(0, gzipMagic):
			return fmt.Errorf("kernel %s is gzip-compressed: vz boots an uncompressed arm64 Image (build the guest with `make guest-image ARCH=arm64`)", path)
		}
		return fmt.Errorf("kernel %s is not an arm64 Linux Image", path)
	case "amd64":
		switch {
		case at(0x202, bzImageMagic):
			return nil
		case at(0, elfMagic):
			return fmt.Errorf("kernel %s is an ELF vmlinux (the format QEMU boots on Linux hosts): on an Intel Mac vz boots a bzImage, Debian's vmlinuz as shipped; build the guest image for macOS", path)
		case at(0x38, arm64ImageMagic):
			return fmt.Errorf("kernel %s is an arm64 Image: this Mac is Intel and boots an amd64 bzImage (build the guest with ARCH=amd64)", path)
		}
		return fmt.Errorf("kernel %s is not an amd64 bzImage, the format vz boots on an Intel Mac", path)
	}
	return fmt.Errorf("vz does not run %s guests", arch)
}
