package libvirt

import (
	"context"
	"encoding/xml"
	"errors"
	"log/slog"
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
