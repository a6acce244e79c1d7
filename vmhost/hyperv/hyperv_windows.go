package hyperv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/Microsoft/go-winio"
	"github.com/Microsoft/go-winio/pkg/guid"
	"github.com/containers/libhvee/pkg/hypervctl"
	"github.com/containers/libhvee/pkg/wmiext"
	"go.podman.io/common/pkg/strongunits"
	"golang.org/x/sys/windows/registry"

	"github.com/berthvm/berth/internal/hypervrights"
	vhdxfile "github.com/berthvm/berth/internal/vhdx"
	"github.com/berthvm/berth/vmhost"
)

// enabledState must match hypervctl.EnabledState value for value: each
// line fails to compile if one drifts.
var (
	_ = [1]int{}[int(hypervctl.Disabled)-int(esDisabled)]
	_ = [1]int{}[int(hypervctl.Enabled)-int(esEnabled)]
	_ = [1]int{}[int(hypervctl.ShuttingDown)-int(esShuttingDown)]
	_ = [1]int{}[int(hypervctl.EnabledButOffline)-int(esEnabledButOffline)]
	_ = [1]int{}[int(hypervctl.Quiesce)-int(esQuiesce)]
	_ = [1]int{}[int(hypervctl.Starting)-int(esStarting)]
)

// killWait bounds how long a turned-off VM may take to read as off:
// Hyper-V answers the turn-off at once, so a VM still running after this
// is stuck (its worker process hung), not slow.
const killWait = 30 * time.Second

// What Backend is: every vmhost interface it implements.
var (
	_ vmhost.Backend       = (*Backend)(nil)
	_ vmhost.DiskFormatter = (*Backend)(nil)
	_ vmhost.GuestFiler    = (*Backend)(nil)
)

// Backend runs machines in Hyper-V. They live in the Hyper-V service and
// can outlive this process, but their links (network, options, shares,
// console) are served from here: a VM left without them is cut off, and
// the next daemon's recovery stops it.
type Backend struct {
	log *slog.Logger
	vmm *hypervctl.VirtualMachineManager

	mu    sync.Mutex
	links map[string]context.CancelFunc
}

// New checks that this user may drive Hyper-V, that Hyper-V is usable and
// that Berth's hvsock services are registered (hostChecks), in that order.
func New(log *slog.Logger) (*Backend, error) {
	vmm := hypervctl.NewVirtualMachineManager()
	err := hostChecks{
		rights:  hypervrights.Check,
		wmi:     func() error { _, err := vmm.GetAll(); return err },
		missing: missingServices,
	}.run()
	if err != nil {
		return nil, err
	}
	return &Backend{log: log, vmm: vmm, links: map[string]context.CancelFunc{}}, nil
}

func missingServices() []string {
	var missing []string
	for _, s := range ServiceKeys() {
		k, err := registry.OpenKey(registry.LOCAL_MACHINE, s.Key, registry.QUERY_VALUE)
		if err != nil {
			missing = append(missing, ServiceID(s.Port))
			continue
		}
		k.Close()
	}
	return missing
}

// RegisterServices registers Berth's hvsock services; it needs an
// administrator.
func RegisterServices() error {
	for _, s := range ServiceKeys() {
		k, _, err := registry.CreateKey(registry.LOCAL_MACHINE, s.Key, registry.SET_VALUE)
		if err != nil {
			return fmt.Errorf("register Hyper-V socket service %s (run as administrator): %w", ServiceID(s.Port), err)
		}
		err = k.SetStringValue("ElementName", s.Name)
		k.Close()
		if err != nil {
			return fmt.Errorf("register Hyper-V socket service %s: %w", ServiceID(s.Port), err)
		}
	}
	return nil
}

// UnregisterServices removes what RegisterServices added (the uninstaller
// runs it); keys already gone are fine. It needs an administrator.
func UnregisterServices() error {
	for _, s := range ServiceKeys() {
		err := registry.DeleteKey(registry.LOCAL_MACHINE, s.Key)
		if err != nil && !errors.Is(err, registry.ErrNotExist) {
			return fmt.Errorf("unregister Hyper-V socket service %s (run as administrator): %w", ServiceID(s.Port), err)
		}
	}
	return nil
}

// GuestFacts are what a Hyper-V guest must be told (plan.go's guestFacts).
func (b *Backend) GuestFacts() vmhost.GuestFacts { return guestFacts }

// Start defines the machine from spec (replacing an older definition),
// serves its links and boots it.
func (b *Backend) Start(ctx context.Context, spec vmhost.Spec) error {
	p, err := newPlan(spec)
	if err != nil {
		return err
	}
	if err := b.Delete(ctx, spec.Name); err != nil {
		return err
	}
	if err := refreshDisks(p.GuestDir, p.Copies, spec.Progress); err != nil {
		return fmt.Errorf("start vm %q: %w", spec.Name, err)
	}
	var vm *hypervctl.VirtualMachine
	err = startSteps{
		define: func() (err error) {
			if err = b.define(p); err == nil {
				vm, err = b.vmm.GetMachine(spec.Name)
			}
			return err
		},
		console:   func() error { return attachConsole(vm, p.ConsolePipe) },
		links:     func() error { return b.serveLinks(vm, p, spec.Network) },
		boot:      func() error { return vm.Start() },
		stopLinks: func() { b.stopLinks(spec.Name) },
		remove:    func() error { return b.Delete(ctx, spec.Name) },
	}.run()
	if err != nil {
		return fmt.Errorf("start vm %q: %w", spec.Name, err)
	}
	b.log.Info("Hyper-V VM started", "vm", spec.Name, "id", vm.Name, "cpus", p.CPUs, "memory", p.Memory.Maximum, "memory_min", p.Memory.Minimum, "shares", len(p.Shares))
	return nil
}

// define creates the Generation 2 VM: no Secure Boot (the guest's EFI
// program is not signed by Microsoft), Dynamic Memory (plan.go), the disks
// on SCSI.
func (b *Backend) define(p plan) error {
	ss, err := hypervctl.NewSystemSettingsBuilder().
		PrepareSystemSettings(p.Name, func(s *hypervctl.SystemSettings) {
			s.SecureBootEnabled = false
			s.AutomaticStartupAction = 2 // none: the daemon starts it
		}).
		PrepareProcessorSettings(func(ps *hypervctl.ProcessorSettings) {
			ps.VirtualQuantity = p.CPUs
		}).
		PrepareMemorySettings(func(ms *hypervctl.MemorySettings) {
			ms.DynamicMemoryEnabled = p.Memory.Dynamic
			ms.VirtualQuantity = p.Memory.Startup
			ms.Limit = p.Memory.Maximum
			ms.Reservation = p.Memory.Minimum
			ms.TargetMemoryBuffer = p.Memory.Buffer
		}).
		Build()
	if err != nil {
		return err
	}
	ctl := hypervctl.NewDriveSettingsBuilder(ss).AddScsiController()
	for lun, path := range p.Disks {
		ctl = ctl.AddSyntheticDiskDrive(uint(lun)).DefineVirtualHardDisk(path, nil).Finish().Finish()
	}
	return ctl.Finish().Complete()
}

// attachConsole connects the VM's COM 1 (the guest's ttyS0) to a named
// pipe that Hyper-V serves: Set-VMComPort, through WMI.
func attachConsole(vm *hypervctl.VirtualMachine, pipe string) error {
	srv, err := hypervctl.NewLocalHyperVService()
	if err != nil {
		return err
	}
	defer srv.Close()
	settings, err := srv.FindFirstRelatedInstanceThrough(vm.Path(), "Msvm_VirtualSystemSettingData", "Msvm_SettingsDefineState")
	if err != nil {
		return err
	}
	defer settings.Close()
	settingsPath, err := settings.Path()
	if err != nil {
		return err
	}
	port, err := serialPort1(srv, settingsPath)
	if err != nil {
		return err
	}
	defer port.Close()
	if err := port.Put("Connection", []string{pipe}); err != nil {
		return err
	}
	vsms, err := srv.GetSingletonInstance("Msvm_VirtualSystemManagementService")
	if err != nil {
		return err
	}
	defer vsms.Close()
	return invoke(srv, vsms.BeginInvoke("ModifyResourceSettings").
		In("ResourceSettings", []string{port.GetCimText()}), "set the serial port")
}

// serialPort1 is the settings of the VM's COM 1 (com1 picks it by name).
func serialPort1(srv *wmiext.Service, settingsPath string) (*wmiext.Instance, error) {
	enum, err := srv.ExecQuery(fmt.Sprintf("ASSOCIATORS OF {%s} WHERE ResultClass = Msvm_SerialPortSettingData", settingsPath))
	if err != nil {
		return nil, err
	}
	defer enum.Close()
	var ports []*wmiext.Instance
	var names []string
	defer func() {
		for _, p := range ports {
			p.Close()
		}
	}()
	for {
		p, err := enum.Next()
		if err != nil {
			return nil, err
		}
		if p == nil {
			break
		}
		name, err := p.GetAsString("ElementName")
		if err != nil {
			p.Close()
			return nil, err
		}
		ports, names = append(ports, p), append(names, name)
	}
	i, err := com1(names)
	if err != nil {
		return nil, err
	}
	p := ports[i]
	ports = append(ports[:i], ports[i+1:]...) // the caller closes it
	return p, nil
}

// serveLinks serves the VM's Hyper-V sockets until Delete.
func (b *Backend) serveLinks(vm *hypervctl.VirtualMachine, p plan, network vmhost.Network) error {
	vmID, err := guid.FromString(vm.Name)
	if err != nil {
		return fmt.Errorf("VM id %q: %w", vm.Name, err)
	}
	listen := func(port uint32) (net.Listener, error) {
		a := bindAddr(vmID.String(), port)
		svc, err := guid.FromString(a.Service)
		if err != nil {
			return nil, err
		}
		l, err := winio.ListenHvsock(&winio.HvsockAddr{VMID: vmID, ServiceID: svc})
		if err != nil {
			return nil, err
		}
		return fromVM{Listener: l, vmID: vmID.String(), peer: hvsockVM, log: b.log}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := serveLinks(ctx, p, network, listen, b.log); err != nil {
		cancel()
		return err
	}
	go copyConsole(ctx, func(ctx context.Context) (net.Conn, error) {
		return winio.DialPipeContext(ctx, p.ConsolePipe)
	}, p.SerialLog, 500*time.Millisecond, b.log)
	b.mu.Lock()
	b.links[p.Name] = cancel
	b.mu.Unlock()
	return nil
}

// hvsockVM is the VM a Hyper-V socket address belongs to.
func hvsockVM(a net.Addr) string {
	if h, ok := a.(*winio.HvsockAddr); ok {
		return h.VMID.String()
	}
	return ""
}

func (b *Backend) stopLinks(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cancel, ok := b.links[name]; ok {
		cancel()
		delete(b.links, name)
	}
}

// Kill turns the machine off, like pulling the plug (libhvee's stop asks
// the guest's shutdown service, which is the guest API's job here).
func (b *Backend) Kill(ctx context.Context, name string) error {
	ok, vm, err := b.vmm.GetMachineExists(name)
	if err != nil {
		return fmt.Errorf("stop vm %q: %w", name, err)
	}
	if !ok || hostState(enabledState(vm.State())) == vmhost.Stopped {
		return nil
	}
	if err := turnOff(vm); err != nil {
		return fmt.Errorf("stop vm %q: %w", name, err)
	}
	if err := waitStopped(ctx, func(ctx context.Context) (vmhost.State, error) { return b.State(ctx, name) }, 100*time.Millisecond, killWait); err != nil {
		return fmt.Errorf("stop vm %q: %w", name, err)
	}
	return nil
}

// turnOff asks Hyper-V to move the VM to Disabled (3) at once.
func turnOff(vm *hypervctl.VirtualMachine) error {
	srv, err := hypervctl.NewLocalHyperVService()
	if err != nil {
		return err
	}
	defer srv.Close()
	inst, err := srv.GetObject(vm.Path())
	if err != nil {
		return err
	}
	defer inst.Close()
	return invoke(srv, inst.BeginInvoke("RequestStateChange").
		In("RequestedState", uint16(esDisabled)).
		In("TimeoutPeriod", &time.Time{}), "turn the VM off")
}

// invoke runs a Hyper-V WMI method call to its end: it answers 0 when
// done, 4096 with a job to wait for, anything else to refuse.
func invoke(srv *wmiext.Service, call *wmiext.MethodExecutor, what string) error {
	var job *wmiext.Instance
	var res int32
	if err := call.Execute().Out("Job", &job).Out("ReturnValue", &res).End(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if job != nil {
		defer job.Close()
	}
	switch res {
	case 0:
		return nil
	case 4096:
		if err := wmiext.WaitJob(srv, job); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	return fmt.Errorf("%s: Hyper-V refused (code %d)", what, res)
}

// State reports the machine's state; NotFound when Hyper-V has no such VM.
func (b *Backend) State(ctx context.Context, name string) (vmhost.State, error) {
	ok, vm, err := b.vmm.GetMachineExists(name)
	if err != nil {
		return "", fmt.Errorf("vm %q: %w", name, err)
	}
	if !ok {
		return vmhost.NotFound, nil
	}
	return hostState(enabledState(vm.State())), nil
}

// Watch sends the machine's state on every change until ctx ends.
func (b *Backend) Watch(ctx context.Context, name string) (<-chan vmhost.State, error) {
	return poll(ctx, func() (vmhost.State, error) { return b.State(ctx, name) }, 500*time.Millisecond), nil
}

// Delete turns the machine off if it runs and removes its definition (not
// its disks).
func (b *Backend) Delete(ctx context.Context, name string) error {
	b.stopLinks(name)
	ok, vm, err := b.vmm.GetMachineExists(name)
	if err != nil {
		return fmt.Errorf("delete vm %q: %w", name, err)
	}
	if !ok {
		return nil
	}
	if err := b.Kill(ctx, name); err != nil {
		return fmt.Errorf("delete vm %q: %w", name, err)
	}
	if err := vm.Remove(""); err != nil {
		return fmt.Errorf("delete vm %q: %w", name, err)
	}
	return nil
}

// Close stops serving the machines' links. The daemon stops its machine
// before it closes the backend; one it could not stop keeps running in
// Hyper-V until the next daemon's recovery.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for name, cancel := range b.links {
		cancel()
		delete(b.links, name)
	}
	return nil
}

// GuestFiles are the guest image's Hyper-V disks, all a Windows install
// of the guest image holds.
func (b *Backend) GuestFiles(guestDir string) []string {
	boot, system := Disks(guestDir)
	return []string{boot, system}
}

// DiskFile is VHDX, the format Hyper-V attaches.
func (b *Backend) DiskFile() vmhost.DiskFile { return vhdx{b.vmm} }

type vhdx struct {
	vmm *hypervctl.VirtualMachineManager
}

// Size reads the VHDX's own metadata, as the settings' check does, so
// both agree without asking WMI.
func (vhdx) Size(path string) (int64, error) { return vhdxfile.VirtualSize(path) }

// Create makes a dynamically expanding VHDX: it takes space as it fills.
func (v vhdx) Create(path string, size int64) error {
	return v.vmm.CreateVhdxFile(path, uint64(size))
}

// Grow resizes in whole GiB, as the settings give the size.
func (vhdx) Grow(path string, size int64) error {
	if size%(1<<30) != 0 {
		return fmt.Errorf("size %d is not whole GiB", size)
	}
	return hypervctl.ResizeDisk(path, strongunits.GiB(size>>30))
}
