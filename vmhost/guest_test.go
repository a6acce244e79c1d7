package vmhost

import (
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/berthvm/berth/guestd/protocol"
)

// The composed options are what guestd reads back from the command line,
// for a backend that exports shares by tag and one that serves them on
// vsock.
func TestGuestOptionsRoundTrip(t *testing.T) {
	hostGW := netip.MustParseAddr("192.168.127.253")
	shares := []protocol.Share{{Tag: "berth0", Path: "/home/me/my projects"}, {Tag: "berth1", Path: "/tmp", ReadOnly: true}}
	for _, f := range []GuestFacts{
		{Console: protocol.ConsoleUART},
		{Console: protocol.ConsoleUART, LinkMTU: 65520},
		{Console: protocol.ConsoleVirtio, Rosetta: "rosetta"},
		{Console: protocol.ConsoleUART, SystemDisk: protocol.SCSILUN + "1", DataDisk: protocol.SCSILUN + "2", ShareVsockBase: 1100, VsockNIC: 1025},
	} {
		o := GuestOptions(hostGW, shares, f)
		line, err := KernelCmdline(o, f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(line, "console="+f.Console+" "+protocol.BootArgs+" ") {
			t.Errorf("%+v: command line %q does not start with the console", f, line)
		}
		got, err := protocol.ParseOptions(line)
		if err != nil {
			t.Fatalf("%+v: guestd refuses %q: %v", f, line, err)
		}
		want := protocol.DefaultOptions()
		want.HostGateway = hostGW
		want.VsockNIC, want.Rosetta = f.VsockNIC, f.Rosetta
		if f.LinkMTU != 0 {
			want.MTU = f.LinkMTU
		}
		if f.SystemDisk != "" {
			want.SystemDisk, want.DataDisk = f.SystemDisk, f.DataDisk
		}
		for i, sh := range shares {
			sh.VsockPort = f.SharePort(i)
			want.Shares = append(want.Shares, sh)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%+v: guestd reads\n %+v\nwant\n %+v", f, got, want)
		}
	}
}

func TestSharePort(t *testing.T) {
	if p := (GuestFacts{}).SharePort(3); p != 0 {
		t.Errorf("shares by tag have vsock port %d", p)
	}
	if p := (GuestFacts{ShareVsockBase: 1100}).SharePort(3); p != 1103 {
		t.Errorf("share 3 on vsock: port %d, want 1103", p)
	}
}

func TestKernelCmdlineRefuses(t *testing.T) {
	f := GuestFacts{Console: protocol.ConsoleUART}
	var shares []protocol.Share
	for i := range 40 {
		shares = append(shares, protocol.Share{Tag: "t" + strings.Repeat("x", i), Path: "/" + strings.Repeat("long-folder-name/", 4) + strings.Repeat("y", i)})
	}
	if _, err := KernelCmdline(GuestOptions(protocol.HostGatewayIP, shares, f), f); err == nil || !strings.Contains(err.Error(), "do not fit") {
		t.Errorf("an overlong command line: %v", err)
	}
	if _, err := KernelCmdline(protocol.DefaultOptions(), GuestFacts{}); err == nil || !strings.Contains(err.Error(), "no guest console") {
		t.Errorf("no console: %v", err)
	}
	twice := []protocol.Share{{Tag: "a", Path: "/x"}, {Tag: "b", Path: "/x"}}
	if _, err := KernelCmdline(GuestOptions(protocol.HostGatewayIP, twice, f), f); err == nil || !strings.Contains(err.Error(), "used twice") {
		t.Errorf("one path shared twice: %v", err)
	}
}

type hvFiles struct{ Backend }

func (hvFiles) GuestFiles(dir string) []string {
	return []string{filepath.Join(dir, "hyperv", "boot.vhdx")}
}

func TestGuestFilesOf(t *testing.T) {
	var plain Backend
	want := []string{filepath.Join("g", "vmlinuz"), filepath.Join("g", "initrd.img"), filepath.Join("g", "system.img")}
	if got := GuestFilesOf(plain, "g"); !reflect.DeepEqual(got, want) {
		t.Errorf("default: %v, want %v", got, want)
	}
	want = []string{filepath.Join("g", "hyperv", "boot.vhdx")}
	if got := GuestFilesOf(hvFiles{}, "g"); !reflect.DeepEqual(got, want) {
		t.Errorf("a GuestFiler's own: %v, want %v", got, want)
	}
}
