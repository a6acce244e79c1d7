package libvirt

import (
	"context"
	"encoding/xml"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/berthvm/berth/vmhost"
)

func spec() vmhost.Spec {
	return vmhost.Spec{
		Name: "berth", CPUs: 2, MemoryMiB: 2048,
		Kernel: "/g/vmlinuz", Initrd: "/g/initrd.img", Cmdline: "console=ttyS0 quiet",
		SystemImage: "/g/system.img", DataDisk: "/d/data.img",
		NetSocket: "/run/u/berth/net,1.sock", MAC: "5a:94:ef:e4:0c:ee", SerialLog: "/d/serial.log",
	}
}

func TestDomainXML(t *testing.T) {
	x, err := DomainXML(spec(), DomainOptions{Arch: "x86_64", UID: 1000, GID: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var d domainXML
	if err := xml.Unmarshal([]byte(x), &d); err != nil {
		t.Fatalf("not XML: %v\n%s", err, x)
	}
	for _, want := range []string{
		`<domain type="qemu" xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0">`,
		`<memory unit="MiB">2048</memory>`, `<vcpu>2</vcpu>`,
		`<type arch="x86_64" machine="q35">hvm</type>`,
		`<kernel>/g/vmlinuz</kernel>`, `<cmdline>console=ttyS0 quiet</cmdline>`,
		`<acpi></acpi>`, `<on_poweroff>destroy</on_poweroff>`,
		`<source file="/g/system.img"></source>`, `<readonly></readonly>`, `<serial>berth-system</serial>`,
		`<driver name="qemu" type="raw" cache="none" discard="unmap"></driver>`, `<serial>berth-data</serial>`,
		`<serial type="file">`, `<source path="/d/serial.log"></source>`,
		`<label>+1000:+1000</label>`,
		// commas in the socket path are escaped for QEMU
		`addr.path=/run/u/berth/net,,1.sock`,
		`virtio-net-pci,netdev=berthnet,mac=5a:94:ef:e4:0c:ee,bus=pcie.0,addr=0x10`,
		`<cpu mode="maximum">`,
	} {
		if !strings.Contains(x, want) {
			t.Errorf("domain XML lacks %s\n%s", want, x)
		}
	}
	if strings.Count(x, "<readonly>") != 1 {
		t.Error("only the system image is read-only")
	}
	kvm, _ := DomainXML(spec(), DomainOptions{KVM: true, Arch: "x86_64"})
	if !strings.Contains(kvm, `<domain type="kvm"`) || !strings.Contains(kvm, `host-passthrough`) {
		t.Errorf("KVM domain:\n%s", kvm)
	}
	s := spec()
	s.MemoryMiB = 0
	if _, err := DomainXML(s, DomainOptions{}); err == nil {
		t.Error("an invalid spec was rendered")
	}
}

func TestDomainXMLShares(t *testing.T) {
	s := spec()
	s.Shares = []vmhost.Share{{Tag: "berth0", HostPath: "/home/me"}, {Tag: "berth1", HostPath: "/srv/ro", ReadOnly: true}}
	vfs, err := DomainXML(s, DomainOptions{Arch: "x86_64", Virtiofsd: "/usr/lib/qemu/virtiofsd"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<memoryBacking>`, `<source type="memfd"></source>`, `<access mode="shared"></access>`,
		`<filesystem type="mount" accessmode="passthrough">`, `<driver type="virtiofs" queue="1024"></driver>`,
		`<binary path="/usr/lib/qemu/virtiofsd" xattr="on"></binary>`,
		`<source dir="/home/me"></source>`, `<target dir="berth0"></target>`, `<target dir="berth1"></target>`,
	} {
		if !strings.Contains(vfs, want) {
			t.Errorf("virtiofs XML lacks %s\n%s", want, vfs)
		}
	}
	nine, err := DomainXML(s, DomainOptions{Arch: "x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<filesystem type="mount" accessmode="squash">`, `<driver type="path"></driver>`} {
		if !strings.Contains(nine, want) {
			t.Errorf("9p XML lacks %s\n%s", want, nine)
		}
	}
	// 9p exports read-only shares read-only; no shared memory is needed.
	if strings.Count(nine, "<readonly>") != 2 || strings.Contains(nine, "memoryBacking") || strings.Contains(nine, "<binary") {
		t.Errorf("9p XML:\n%s", nine)
	}
	if x, _ := DomainXML(spec(), DomainOptions{Arch: "x86_64", Virtiofsd: "/v"}); strings.Contains(x, "memoryBacking") {
		t.Error("shared memory without shares")
	}
	s.Shares = append(s.Shares, vmhost.Share{Tag: "berth0", HostPath: "/x"})
	if _, err := DomainXML(s, DomainOptions{}); err == nil {
		t.Error("two shares with one tag were accepted")
	}
}

func TestFindVirtiofsd(t *testing.T) {
	dir := t.TempDir()
	plain, exe := dir+"/plain", dir+"/exe"
	os.WriteFile(plain, nil, 0o644)
	os.WriteFile(exe, nil, 0o755)
	if got := findVirtiofsd([]string{dir + "/missing", plain, dir, exe}); got != exe {
		t.Errorf("found %q, want %q", got, exe)
	}
	if got := findVirtiofsd([]string{plain}); got != "" {
		t.Errorf("found %q in nothing executable", got)
	}
}

type fakeRPC struct {
	defined  []string
	state    golibvirt.DomainState
	exists   bool
	createFn func(xml string) error
	events   chan golibvirt.DomainEventLifecycleMsg
}

var notFound = golibvirt.Error{Code: uint32(golibvirt.ErrNoDomain), Message: "Domain not found"}

func (f *fakeRPC) DomainLookupByName(name string) (golibvirt.Domain, error) {
	if !f.exists {
		return golibvirt.Domain{}, notFound
	}
	return golibvirt.Domain{Name: name}, nil
}
func (f *fakeRPC) DomainDefineXML(x string) (golibvirt.Domain, error) {
	if f.exists {
		return golibvirt.Domain{}, errors.New("operation failed: domain 'berth' already exists with uuid 7727")
	}
	f.defined = append(f.defined, x)
	f.exists = true
	return golibvirt.Domain{Name: "berth"}, nil
}
func (f *fakeRPC) DomainCreate(golibvirt.Domain) error {
	if f.createFn != nil {
		if err := f.createFn(f.defined[len(f.defined)-1]); err != nil {
			return err
		}
	}
	f.state = golibvirt.DomainRunning
	return nil
}
func (f *fakeRPC) DomainDestroy(golibvirt.Domain) error {
	if f.state != golibvirt.DomainRunning {
		return errors.New("Requested operation is not valid: domain is not running")
	}
	f.state = golibvirt.DomainShutoff
	return nil
}
func (f *fakeRPC) DomainGetState(golibvirt.Domain, uint32) (int32, int32, error) {
	return int32(f.state), 0, nil
}
func (f *fakeRPC) DomainUndefineFlags(golibvirt.Domain, golibvirt.DomainUndefineFlagsValues) error {
	f.exists = false
	return nil
}
func (f *fakeRPC) LifecycleEvents(ctx context.Context) (<-chan golibvirt.DomainEventLifecycleMsg, error) {
	return f.events, nil
}
func (f *fakeRPC) Disconnect() error { return nil }

func TestStartStateKillDelete(t *testing.T) {
	f := &fakeRPC{state: golibvirt.DomainShutoff}
	b := &Backend{rpc: f, log: slog.New(slog.DiscardHandler), opts: DomainOptions{Arch: "x86_64"}}
	ctx := context.Background()
	if st, _ := b.State(ctx, "berth"); st != vmhost.NotFound {
		t.Fatalf("state before define: %s", st)
	}
	if err := b.Start(ctx, spec()); err != nil {
		t.Fatal(err)
	}
	if st, _ := b.State(ctx, "berth"); st != vmhost.Running {
		t.Fatalf("state after start: %s", st)
	}
	if err := b.Start(ctx, spec()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second start: %v", err)
	}
	if err := b.Kill(ctx, "berth"); err != nil {
		t.Fatal(err)
	}
	if err := b.Kill(ctx, "berth"); err != nil {
		t.Fatalf("killing a stopped domain: %v", err)
	}
	if err := b.Delete(ctx, "berth"); err != nil {
		t.Fatal(err)
	}
	if st, _ := b.State(ctx, "berth"); st != vmhost.NotFound {
		t.Fatalf("state after delete: %s", st)
	}
}

// A /dev/kvm that QEMU cannot use makes the KVM start fail; the backend
// then redefines the domain for TCG and remembers.
func TestFallsBackToTCG(t *testing.T) {
	f := &fakeRPC{createFn: func(x string) error {
		if strings.Contains(x, `type="kvm"`) {
			return errors.New("internal error: qemu unexpectedly closed the monitor: failed to set MSR 0x10a")
		}
		return nil
	}}
	b := &Backend{rpc: f, log: slog.New(slog.DiscardHandler), opts: DomainOptions{KVM: true, Arch: "x86_64"}}
	if err := b.Start(context.Background(), spec()); err != nil {
		t.Fatal(err)
	}
	if len(f.defined) != 2 || !strings.Contains(f.defined[1], `type="qemu"`) || b.opts.KVM {
		t.Fatalf("no TCG fallback: %d definitions, KVM still %v", len(f.defined), b.opts.KVM)
	}
}

func TestWatchFiltersAndMaps(t *testing.T) {
	f := &fakeRPC{events: make(chan golibvirt.DomainEventLifecycleMsg, 8)}
	b := &Backend{rpc: f, log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := b.Watch(ctx, "berth")
	if err != nil {
		t.Fatal(err)
	}
	berth, other := golibvirt.Domain{Name: "berth"}, golibvirt.Domain{Name: "other"}
	f.events <- golibvirt.DomainEventLifecycleMsg{Dom: berth, Event: int32(golibvirt.DomainEventDefined)}
	f.events <- golibvirt.DomainEventLifecycleMsg{Dom: other, Event: int32(golibvirt.DomainEventStarted)}
	f.events <- golibvirt.DomainEventLifecycleMsg{Dom: berth, Event: int32(golibvirt.DomainEventStarted)}
	f.events <- golibvirt.DomainEventLifecycleMsg{Dom: berth, Event: int32(golibvirt.DomainEventStopped)}
	f.events <- golibvirt.DomainEventLifecycleMsg{Dom: berth, Event: int32(golibvirt.DomainEventCrashed)}
	close(f.events)
	var got []vmhost.State
	timeout := time.After(5 * time.Second)
	for {
		select {
		case st, ok := <-ch:
			if !ok {
				want := []vmhost.State{vmhost.Running, vmhost.Stopped, vmhost.Crashed}
				if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
					t.Fatalf("states %v, want %v", got, want)
				}
				return
			}
			got = append(got, st)
		case <-timeout:
			t.Fatal("watch did not end")
		}
	}
}
