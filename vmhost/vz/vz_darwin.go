package vz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"

	"github.com/Code-Hex/vz/v3"
	"golang.org/x/sys/unix"

	"github.com/berthvm/berth/vmhost"
)

// vmState must match vz.VirtualMachineState value for value: each line
// fails to compile if one drifts.
var (
	_ = [1]int{}[int(vz.VirtualMachineStateStopped)-int(stStopped)]
	_ = [1]int{}[int(vz.VirtualMachineStateRunning)-int(stRunning)]
	_ = [1]int{}[int(vz.VirtualMachineStatePaused)-int(stPaused)]
	_ = [1]int{}[int(vz.VirtualMachineStateError)-int(stError)]
	_ = [1]int{}[int(vz.VirtualMachineStateStarting)-int(stStarting)]
	_ = [1]int{}[int(vz.VirtualMachineStatePausing)-int(stPausing)]
	_ = [1]int{}[int(vz.VirtualMachineStateResuming)-int(stResuming)]
	_ = [1]int{}[int(vz.VirtualMachineStateStopping)-int(stStopping)]
	_ = [1]int{}[int(vz.DiskImageCachingModeCached)-int(cachingCached)]
	_ = [1]int{}[int(vz.DiskImageSynchronizationModeFsync)-int(syncFsync)]
)

// What Backend is: every vmhost interface it implements.
var (
	_ vmhost.Backend   = (*Backend)(nil)
	_ vmhost.Ballooner = (*Backend)(nil)
)

// Backend runs machines in this process; they end with it.
type Backend struct {
	log *slog.Logger
	o   Options

	vms  machines
	hubs hubs // per machine name, from the first Watch or Start on
}

// New checks that this Mac can run VMs and returns the backend.
func New(log *slog.Logger, o Options) (*Backend, error) {
	if o.Rosetta {
		if err := rosettaAvailable(); err != nil {
			return nil, err
		}
	}
	return &Backend{log: log, o: o}, nil
}

// vmAdapter gives *vz.VirtualMachine the vm and ballooner interfaces.
type vmAdapter struct {
	*vz.VirtualMachine
	memory uint64 // the configuration's memorySize
}

func (a vmAdapter) memorySize() uint64 { return a.memory }

// setBalloonTarget sets the traditional balloon's target (balloon.go:
// machines.setMemoryTarget checked it against Apple's rules).
func (a vmAdapter) setBalloonTarget(bytes uint64) error {
	for _, d := range a.MemoryBalloonDevices() {
		if b := vz.AsVirtioTraditionalMemoryBalloonDevice(d); b != nil {
			b.SetTargetVirtualMachineMemorySize(bytes)
			return nil
		}
	}
	return errors.New("the VM has no memory balloon")
}

func (a vmAdapter) State() vmState { return vmState(a.VirtualMachine.State()) }

// Start boots the VM with the framework's defaults; it blocks until the
// VM runs or failed to.
func (a vmAdapter) Start() error { return a.VirtualMachine.Start() }

// GuestFacts are what a vz guest must be told (plan.go's guestFacts).
func (b *Backend) GuestFacts() vmhost.GuestFacts { return guestFacts(b.o) }

// Start builds the machine from spec and boots it. The framework's Start
// blocks until the VM runs; the backend's lock is not held meanwhile
// (machines.go), so Kill, Delete and State answer while it does.
func (b *Backend) Start(ctx context.Context, spec vmhost.Spec) error {
	p, err := newPlan(spec, runtime.GOARCH, b.o)
	if err != nil {
		return err
	}
	err = b.vms.start(spec.Name, func() (startable, func(), error) {
		vmConn, hostConn, err := datagramPair()
		if err != nil {
			return nil, nil, fmt.Errorf("network: %w", err)
		}
		netCtx, cancelNet := context.WithCancel(context.Background())
		// The VM's end goes to the framework as it is (no duplicate): it
		// is closed only once the VM is down.
		stopNet := sync.OnceFunc(func() {
			cancelNet()
			hostConn.Close()
			vmConn.Close()
		})
		cfg, err := configure(p, vmConn)
		if err != nil {
			stopNet()
			return nil, nil, err
		}
		v, err := vz.NewVirtualMachine(cfg)
		if err != nil {
			stopNet()
			return nil, nil, err
		}
		go func() {
			if err := spec.Network.ServeDatagram(netCtx, frameConn{hostConn}); err != nil {
				b.log.Warn("VM network link ended", "vm", spec.Name, "err", err)
			}
		}()
		done := make(chan struct{})
		release := sync.OnceFunc(func() {
			stopNet()
			close(done)
		})
		go follow(done, v.StateChangedNotify(), b.hubs.get(spec.Name).publish, stopNet)
		return vmAdapter{v, p.MemoryBytes}, release, nil
	})
	if err != nil {
		return err
	}
	b.log.Info("vz VM started", "vm", spec.Name, "cpus", p.CPUs, "memory", p.MemoryBytes>>20, "shares", len(p.Shares), "rosetta", p.Rosetta)
	return nil
}

// datagramPair is the NIC's link: vz's file-handle attachment wants one
// end of a SOCK_DGRAM socket pair, the virtual network the other.
func datagramPair() (*os.File, net.Conn, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	if err != nil {
		return nil, nil, err
	}
	// Frames up to 64 KiB (TSO) must fit in one datagram each way.
	for _, fd := range fds {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20)
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	}
	vmEnd := os.NewFile(uintptr(fds[0]), "vm-nic")
	hostEnd := os.NewFile(uintptr(fds[1]), "host-nic")
	defer hostEnd.Close()
	conn, err := net.FileConn(hostEnd)
	if err != nil {
		vmEnd.Close()
		return nil, nil, err
	}
	return vmEnd, conn, nil
}

// configure turns a plan into the framework's configuration.
func configure(p plan, nic *os.File) (*vz.VirtualMachineConfiguration, error) {
	boot, err := vz.NewLinuxBootLoader(p.Kernel, vz.WithInitrd(p.Initrd), vz.WithCommandLine(p.Cmdline))
	if err != nil {
		return nil, fmt.Errorf("boot loader: %w", err)
	}
	cfg, err := vz.NewVirtualMachineConfiguration(boot, p.CPUs, p.MemoryBytes)
	if err != nil {
		return nil, err
	}

	var disks []vz.StorageDeviceConfiguration
	for _, d := range p.Disks {
		att, err := vz.NewDiskImageStorageDeviceAttachmentWithCacheAndSync(d.Path, d.ReadOnly, vz.DiskImageCachingMode(d.Caching), vz.DiskImageSynchronizationMode(d.Sync))
		if err != nil {
			return nil, fmt.Errorf("disk %s: %w", d.Path, err)
		}
		blk, err := vz.NewVirtioBlockDeviceConfiguration(att)
		if err != nil {
			return nil, fmt.Errorf("disk %s: %w", d.Path, err)
		}
		if err := blk.SetBlockDeviceIdentifier(d.ID); err != nil {
			return nil, fmt.Errorf("disk %s: serial %q (macOS 12.3 or newer is needed): %w", d.Path, d.ID, err)
		}
		disks = append(disks, blk)
	}
	cfg.SetStorageDevicesVirtualMachineConfiguration(disks)

	att, err := vz.NewFileHandleNetworkDeviceAttachment(nic)
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	netDev, err := vz.NewVirtioNetworkDeviceConfiguration(att)
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	hw, err := net.ParseMAC(p.MAC)
	if err != nil {
		return nil, fmt.Errorf("network: MAC %q: %w", p.MAC, err)
	}
	mac, err := vz.NewMACAddress(hw)
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	netDev.SetMACAddress(mac)
	cfg.SetNetworkDevicesVirtualMachineConfiguration([]*vz.VirtioNetworkDeviceConfiguration{netDev})

	var shares []vz.DirectorySharingDeviceConfiguration
	for _, sh := range p.Shares {
		dir, err := vz.NewSharedDirectory(sh.HostPath, sh.ReadOnly)
		if err != nil {
			return nil, fmt.Errorf("shared folder %s: %w", sh.HostPath, err)
		}
		single, err := vz.NewSingleDirectoryShare(dir)
		if err != nil {
			return nil, fmt.Errorf("shared folder %s: %w", sh.HostPath, err)
		}
		dev, err := vz.NewVirtioFileSystemDeviceConfiguration(sh.Tag)
		if err != nil {
			return nil, fmt.Errorf("shared folder %s: %w", sh.HostPath, err)
		}
		dev.SetDirectoryShare(single)
		shares = append(shares, dev)
	}
	if p.Rosetta {
		dev, err := rosettaShare()
		if err != nil {
			return nil, err
		}
		shares = append(shares, dev)
	}
	cfg.SetDirectorySharingDevicesVirtualMachineConfiguration(shares)

	serial, err := vz.NewFileSerialPortAttachment(p.SerialLog, true)
	if err != nil {
		return nil, fmt.Errorf("console %s: %w", p.SerialLog, err)
	}
	console, err := vz.NewVirtioConsoleDeviceSerialPortConfiguration(serial)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	cfg.SetSerialPortsVirtualMachineConfiguration([]*vz.VirtioConsoleDeviceSerialPortConfiguration{console})

	if p.Balloon {
		balloon, err := vz.NewVirtioTraditionalMemoryBalloonDeviceConfiguration()
		if err != nil {
			return nil, fmt.Errorf("memory balloon: %w", err)
		}
		cfg.SetMemoryBalloonDevicesVirtualMachineConfiguration([]vz.MemoryBalloonDeviceConfiguration{balloon})
	}
	entropy, err := vz.NewVirtioEntropyDeviceConfiguration()
	if err != nil {
		return nil, fmt.Errorf("entropy: %w", err)
	}
	cfg.SetEntropyDevicesVirtualMachineConfiguration([]*vz.VirtioEntropyDeviceConfiguration{entropy})
	if err := verdict(cfg.Validate()); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Kill pulls the plug on the machine, if there is one; a start under way
// is made to end stopped.
func (b *Backend) Kill(ctx context.Context, name string) error { return b.vms.kill(name) }

// State reports the machine's state; NotFound before it was started.
func (b *Backend) State(ctx context.Context, name string) (vmhost.State, error) {
	return b.vms.state(name), nil
}

// Watch sends the machine's state on every change until ctx ends; it may
// start before the machine does.
func (b *Backend) Watch(ctx context.Context, name string) (<-chan vmhost.State, error) {
	return b.hubs.get(name).watch(ctx), nil
}

// Delete stops the machine if it runs and forgets it; vz keeps no
// definition on disk.
func (b *Backend) Delete(ctx context.Context, name string) error { return b.vms.delete(name) }

// SetMemoryTarget sets the balloon of the running machine so that its
// guest keeps bytes of memory (vmhost.Ballooner).
func (b *Backend) SetMemoryTarget(ctx context.Context, name string, bytes uint64) error {
	return b.vms.setMemoryTarget(name, bytes)
}

// Close stops every machine: they cannot outlive this process.
func (b *Backend) Close() error { return b.vms.close() }
