package hyperv

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/vmhost"
)

type nopNetwork struct{}

func (nopNetwork) ServeDatagram(context.Context, net.Conn) error { return nil }
func (nopNetwork) ServeStream(context.Context, net.Conn) error   { return nil }

// guestDir lays out a guest image with its Hyper-V disks.
func guestDir(t *testing.T) string {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "hyperv"), 0o755)
	for _, f := range []string{"system.img", "hyperv/boot.vhdx", "hyperv/system.vhdx"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func testSpec(dir string) vmhost.Spec {
	return vmhost.Spec{
		Name: "berth", CPUs: 2, MemoryMiB: 3001,
		Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd.img"),
		Cmdline:     "console=ttyS0 quiet berth.share=berth0,rw,/mnt/host/c/Users/me berth.share=berth1,ro,/mnt/host/d/src",
		SystemImage: filepath.Join(dir, "system.img"), DataDisk: `C:\Users\me\AppData\Local\berth\data.vhdx`,
		Network: nopNetwork{}, MAC: "5a:94:ef:e4:0c:ee", SerialLog: `C:\Users\me\AppData\Local\berth\serial.log`,
		Shares: []vmhost.Share{{Tag: "berth0", HostPath: `C:\Users\me`}, {Tag: "berth1", HostPath: `D:\src`, ReadOnly: true}},
	}
}

func TestPlanTranslatesTheSpec(t *testing.T) {
	dir := guestDir(t)
	spec := testSpec(dir)
	p, err := newPlan(spec)
	if err != nil {
		t.Fatal(err)
	}
	want := plan{
		Name: "berth", CPUs: 2, Memory: memory{Dynamic: true, Startup: 3002, Minimum: 750, Maximum: 3002, Buffer: 25},
		ConsolePipe: `\\.\pipe\berth-berth-com1`, SerialLog: spec.SerialLog,
		// The user's copies of the installed disks, never the installed
		// files themselves (disks.go).
		Disks: []string{filepath.Join(filepath.Dir(spec.DataDisk), "hyperv", "boot.vhdx"), filepath.Join(filepath.Dir(spec.DataDisk), "hyperv", "system.vhdx"), spec.DataDisk},
		Copies: []copyPair{
			{filepath.Join(dir, "hyperv", "boot.vhdx"), filepath.Join(filepath.Dir(spec.DataDisk), "hyperv", "boot.vhdx")},
			{filepath.Join(dir, "hyperv", "system.vhdx"), filepath.Join(filepath.Dir(spec.DataDisk), "hyperv", "system.vhdx")},
		},
		GuestDir: dir,
		Options:  spec.Cmdline, // composed by the daemon, served unedited
		Shares: []share{
			{Share: spec.Shares[0], Port: 1100},
			{Share: spec.Shares[1], Port: 1101},
		},
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("plan:\n got %+v\nwant %+v", p, want)
	}
}

// What the daemon composes from Hyper-V's facts, served on ConfigPort after
// the boot disk's own command line, is what guestd needs on Hyper-V: the
// NIC on vsock, the disks by LUN, each share on the port plan serves it on.
func TestGuestFacts(t *testing.T) {
	dir := guestDir(t)
	spec := testSpec(dir)
	f := guestFacts
	shares := []protocol.Share{{Tag: "berth0", Path: "/mnt/host/c/Users/me"}, {Tag: "berth1", Path: "/mnt/host/d/src", ReadOnly: true}}
	var err error
	if spec.Cmdline, err = vmhost.KernelCmdline(vmhost.GuestOptions(protocol.HostGatewayIP, shares, f), f); err != nil {
		t.Fatal(err)
	}
	p, err := newPlan(spec)
	if err != nil {
		t.Fatal(err)
	}
	g, err := protocol.ParseOptions(BootCmdline + " " + p.Options)
	if err != nil {
		t.Fatal(err)
	}
	if g.VsockOptions != ConfigPort || g.VsockNIC != NICPort || g.SystemDisk != "scsi-lun:1" || g.DataDisk != "scsi-lun:2" || len(g.Shares) != 2 ||
		g.Shares[0] != (protocol.Share{Tag: "berth0", Path: "/mnt/host/c/Users/me", VsockPort: p.Shares[0].Port}) ||
		g.Shares[1] != (protocol.Share{Tag: "berth1", Path: "/mnt/host/d/src", ReadOnly: true, VsockPort: p.Shares[1].Port}) {
		t.Fatalf("guestd reads %+v", g)
	}
}

func TestPlanRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(*vmhost.Spec)
		errHas string
	}{
		{"no network", func(s *vmhost.Spec) { s.Network = nil; s.NetSocket = `\\.\pipe\x` }, "needs the virtual network"},
		{"raw data disk", func(s *vmhost.Spec) { s.DataDisk = `C:\d\data.img` }, "VHDX disks only"},
		{"no Hyper-V disks", func(s *vmhost.Spec) { s.SystemImage = filepath.Join(t.TempDir(), "system.img") }, "no Hyper-V disks"},
		{"too many shares", func(s *vmhost.Spec) {
			s.Shares = nil
			for i := 0; i <= maxShares; i++ {
				s.Shares = append(s.Shares, vmhost.Share{Tag: "t" + string(rune('A'+i)), HostPath: "/p"})
			}
		}, "at most 64"},
		{"invalid spec", func(s *vmhost.Spec) { s.MemoryMiB = 16 }, "too little"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := testSpec(guestDir(t))
			tc.edit(&spec)
			if _, err := newPlan(spec); err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("err = %v, want one containing %q", err, tc.errHas)
			}
		})
	}
}

// The GUIDs are what Hyper-V's hv_sock maps vsock ports to; the values
// put the port in the first field of the vsock template (as go-winio's
// VsockServiceID does).
func TestServiceID(t *testing.T) {
	for port, want := range map[uint32]string{
		1024:  "00000400-facb-11e6-bd58-64006a7986d3",
		1025:  "00000401-facb-11e6-bd58-64006a7986d3",
		0x1f4: "000001f4-facb-11e6-bd58-64006a7986d3",
	} {
		if got := ServiceID(port); got != want {
			t.Errorf("ServiceID(%d) = %s, want %s", port, got, want)
		}
	}
	seen := map[uint32]bool{}
	for _, p := range Services() {
		if seen[p] {
			t.Fatalf("port %d twice", p)
		}
		seen[p] = true
	}
	if !seen[ConfigPort] || !seen[NICPort] || !seen[LogPort] || !seen[SharePortBase+maxShares-1] || len(seen) != 3+maxShares {
		t.Fatalf("services: %v", Services())
	}
}

func TestHostState(t *testing.T) {
	want := map[enabledState]vmhost.State{
		esDisabled: vmhost.Stopped, esEnabled: vmhost.Running, esStarting: vmhost.Running,
		esShuttingDown: vmhost.Running, esQuiesce: vmhost.Paused, esEnabledButOffline: vmhost.Paused,
		esUnknown: vmhost.Crashed, esOther: vmhost.Crashed, esNotApplicable: vmhost.Crashed,
		esInTest: vmhost.Crashed, esDeferred: vmhost.Crashed,
	}
	for s := esUnknown; s <= esStarting; s++ {
		if got := hostState(s); got != want[s] {
			t.Errorf("hostState(%d) = %s, want %s", s, got, want[s])
		}
	}
}

func TestPollSendsWhatLibvirtsEventsWould(t *testing.T) {
	var mu sync.Mutex
	// Start redefines the machine while the daemon watches: not-found,
	// stopped (defined), running; then it goes down and is deleted.
	seq := []vmhost.State{vmhost.NotFound, vmhost.Stopped, vmhost.Running, "", vmhost.Running, vmhost.Crashed, vmhost.Stopped, vmhost.NotFound, vmhost.Running, vmhost.Stopped}
	i := 0
	get := func() (vmhost.State, error) {
		mu.Lock()
		defer mu.Unlock()
		if i >= len(seq) {
			return vmhost.Stopped, nil
		}
		s := seq[i]
		i++
		if s == "" {
			return "", errors.New("WMI hiccup")
		}
		return s, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := poll(ctx, get, time.Millisecond)
	var got []string
	for len(got) < 5 {
		got = append(got, string(<-ch))
	}
	if strings.Join(got, " ") != "running crashed stopped running stopped" {
		t.Fatalf("got %v", got)
	}
	cancel()
	for range ch { // closes once ctx ends
	}
}

// The boot disk is built with the Makefile's HYPERV_CMDLINE: it must be
// the line this package's options complete.
func TestBootCmdlineMatchesTheImageBuild(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mk), "\nHYPERV_CMDLINE := "+BootCmdline+"\n") {
		t.Fatalf("the Makefile's HYPERV_CMDLINE is not %q", BootCmdline)
	}
}

func TestDynamicMemory(t *testing.T) {
	for _, tc := range []struct {
		mib  uint64
		want memory
	}{
		{1024, memory{Dynamic: true, Startup: 1024, Minimum: 512, Maximum: 1024, Buffer: 25}},
		{8192, memory{Dynamic: true, Startup: 8192, Minimum: 2048, Maximum: 8192, Buffer: 25}},
		{3001, memory{Dynamic: true, Startup: 3002, Minimum: 750, Maximum: 3002, Buffer: 25}},
		{257, memory{Dynamic: true, Startup: 258, Minimum: 258, Maximum: 258, Buffer: 25}},
	} {
		got := dynamicMemory(tc.mib)
		if got != tc.want {
			t.Errorf("dynamicMemory(%d) = %+v, want %+v", tc.mib, got, tc.want)
		}
		if err := got.valid(); err != nil {
			t.Errorf("dynamicMemory(%d): %v", tc.mib, err)
		}
	}
	for _, bad := range []memory{
		{Dynamic: true, Startup: 1025, Minimum: 512, Maximum: 2048, Buffer: 25},
		{Dynamic: true, Startup: 1024, Minimum: 2048, Maximum: 2048, Buffer: 25},
		{Dynamic: true, Startup: 4096, Minimum: 512, Maximum: 2048, Buffer: 25},
		{Dynamic: true, Startup: 1024, Minimum: 512, Maximum: 2048, Buffer: 4},
		{Dynamic: true, Startup: 1024, Minimum: 512, Maximum: 2048, Buffer: 2001},
	} {
		if bad.valid() == nil {
			t.Errorf("%+v passes Dynamic Memory's rules", bad)
		}
	}
}
