package vz

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/vmhost"
)

type nopNetwork struct{}

func (nopNetwork) ServeDatagram(context.Context, net.Conn) error { return nil }
func (nopNetwork) ServeStream(context.Context, net.Conn) error   { return nil }

// kernelFile writes a file that starts like a kernel of the given kind.
func kernelFile(t *testing.T, kind string) string {
	t.Helper()
	head := make([]byte, 0x400)
	switch kind {
	case "arm64-image":
		copy(head[0x38:], "ARM\x64")
	case "gzip":
		copy(head, []byte{0x1f, 0x8b, 0x08})
	case "elf":
		copy(head, "\x7fELF")
	case "bzimage":
		binary.LittleEndian.PutUint16(head[0x1fe:], 0xaa55)
		copy(head[0x202:], "HdrS")
	case "short":
		head = head[:16]
	}
	p := filepath.Join(t.TempDir(), "vmlinuz-"+kind)
	if err := os.WriteFile(p, head, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func testSpec(t *testing.T, kernel string) vmhost.Spec {
	return vmhost.Spec{
		Name: "berth", CPUs: 4, MemoryMiB: 4096,
		Kernel: kernel, Initrd: "/g/initrd.img", Cmdline: "console=ttyS0 quiet berth.share=a,rw,/Users",
		SystemImage: "/g/system.img", DataDisk: "/d/data.img",
		Network: nopNetwork{}, MAC: "5a:94:ef:e4:0c:ee",
		SerialLog: "/d/serial.log",
		Shares:    []vmhost.Share{{Tag: "home", HostPath: "/Users/me"}, {Tag: "tmp", HostPath: "/private/tmp", ReadOnly: true}},
	}
}

func TestPlanTranslatesTheSpec(t *testing.T) {
	spec := testSpec(t, kernelFile(t, "arm64-image"))
	p, err := newPlan(spec, "arm64", Options{Rosetta: true})
	if err != nil {
		t.Fatal(err)
	}
	want := plan{
		Kernel: spec.Kernel, Initrd: "/g/initrd.img",
		Cmdline:     spec.Cmdline, // composed by the daemon, passed on unedited
		CPUs:        4,
		MemoryBytes: 4 << 30,
		Disks: []disk{
			{Path: "/g/system.img", ReadOnly: true, ID: "berth-system", Caching: cachingCached, Sync: syncFsync},
			{Path: "/d/data.img", ID: "berth-data", Caching: cachingCached, Sync: syncFsync},
		},
		MAC:       "5a:94:ef:e4:0c:ee",
		Shares:    spec.Shares,
		SerialLog: "/d/serial.log",
		Rosetta:   true,
		Balloon:   true,
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("plan:\n got %+v\nwant %+v", p, want)
	}
}

func TestPlanRefuses(t *testing.T) {
	arm := kernelFile(t, "arm64-image")
	for _, tc := range []struct {
		name   string
		edit   func(*vmhost.Spec)
		arch   string
		o      Options
		errHas string
	}{
		{"no network", func(s *vmhost.Spec) { s.Network = nil; s.NetSocket = "/x.sock" }, "arm64", Options{}, "needs the virtual network"},
		{"invalid spec", func(s *vmhost.Spec) { s.CPUs = 0 }, "arm64", Options{}, "CPU"},
		{"rosetta on intel", func(s *vmhost.Spec) { s.Kernel = kernelFile(t, "bzimage") }, "amd64", Options{Rosetta: true}, "Apple silicon only"},
		{"rosetta tag taken", func(s *vmhost.Spec) { s.Shares[0].Tag = RosettaTag }, "arm64", Options{Rosetta: true}, `tag "rosetta" is Rosetta's`},
		{"compressed arm64 kernel", func(s *vmhost.Spec) { s.Kernel = kernelFile(t, "gzip") }, "arm64", Options{}, "make guest-image ARCH=arm64"},
		{"amd64 kernel on arm64", func(s *vmhost.Spec) { s.Kernel = kernelFile(t, "bzimage") }, "arm64", Options{}, "not an arm64 Linux Image"},
		{"arm64 kernel on intel", func(s *vmhost.Spec) {}, "amd64", Options{}, "is an arm64 Image: this Mac is Intel"},
		// The amd64 image built for QEMU carries an ELF vmlinux (PVH);
		// vz on Intel boots a bzImage only.
		{"ELF vmlinux on intel", func(s *vmhost.Spec) { s.Kernel = kernelFile(t, "elf") }, "amd64", Options{}, "is an ELF vmlinux"},
		{"gzip on intel", func(s *vmhost.Spec) { s.Kernel = kernelFile(t, "gzip") }, "amd64", Options{}, "not an amd64 bzImage"},
		{"truncated kernel on intel", func(s *vmhost.Spec) { s.Kernel = kernelFile(t, "short") }, "amd64", Options{}, "not an amd64 bzImage"},
		{"ELF vmlinux on arm64", func(s *vmhost.Spec) { s.Kernel = kernelFile(t, "elf") }, "arm64", Options{}, "not an arm64 Linux Image"},
		{"truncated kernel", func(s *vmhost.Spec) { s.Kernel = kernelFile(t, "short") }, "arm64", Options{}, "not an arm64 Linux Image"},
		{"missing kernel", func(s *vmhost.Spec) { s.Kernel = "/nonexistent/vmlinuz" }, "arm64", Options{}, "no such file"},
		{"other arch", func(s *vmhost.Spec) {}, "riscv64", Options{}, "does not run riscv64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := testSpec(t, arm)
			tc.edit(&spec)
			_, err := newPlan(spec, tc.arch, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("err = %v, want one containing %q", err, tc.errHas)
			}
		})
	}
}

func TestPlanTakesABzImageOnIntel(t *testing.T) {
	if _, err := newPlan(testSpec(t, kernelFile(t, "bzimage")), "amd64", Options{}); err != nil {
		t.Error(err)
	}
}

// What the daemon composes from vz's facts is what guestd needs on vz: the
// virtio console, and Rosetta's tag when it is shared.
func TestGuestFacts(t *testing.T) {
	for _, rosetta := range []bool{false, true} {
		f := guestFacts(Options{Rosetta: rosetta})
		shares := []protocol.Share{{Tag: "berth0", Path: "/Users/me"}}
		line, err := vmhost.KernelCmdline(vmhost.GuestOptions(protocol.HostGatewayIP, shares, f), f)
		if err != nil {
			t.Fatal(err)
		}
		want := "console=hvc0 " + protocol.BootArgs + " berth.share=berth0,rw,/Users/me"
		if rosetta {
			want = "console=hvc0 " + protocol.BootArgs + " berth.rosetta=rosetta berth.share=berth0,rw,/Users/me"
		}
		if line != want {
			t.Errorf("rosetta %v: command line\n %q\nwant\n %q", rosetta, line, want)
		}
	}
}
