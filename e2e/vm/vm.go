//go:build linux

// Package vm boots the guest image directly under QEMU, without the daemon
// or libvirt, attached to Berth's virtual network (or QEMU's user network):
// the end-to-end tests use it where they exercise the guest alone (its
// lifecycle, a foreign data disk) and for the benchmarks' bare-QEMU
// references. It is test tooling, not product.
package vm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/netproxy/hostdns"
	"github.com/berthvm/berth/netproxy/relay"
	"github.com/berthvm/berth/netproxy/vnet"
	"github.com/berthvm/berth/vmhost"
)

// Options for one boot.
type Options struct {
	GuestDir string // vmlinuz, initrd.img, system.img
	DataDisk string // raw image; created sparse at DataSize if missing
	DataSize int64
	StateDir string // sockets and the serial log
	CPUs     int
	MemoryMB int
	// UserNet lists guest ports to reach through QEMU's own user network
	// (slirp, hostfwd on 127.0.0.1) instead of Berth's: the reference the
	// benchmarks compare Berth's network with. The guest API and the engine
	// are forwarded too; Net is then nil.
	UserNet []int
	// Arch is the guest's architecture: "amd64" (the default, q35 with a
	// 16550 UART) or "arm64", booted under qemu-system-aarch64's virt
	// machine with what Apple's Virtualization framework gives it: a
	// virtio console (hvc0), virtio-blk disks by serial, virtio-net.
	Arch string
}

// facts are what this QEMU machine's guest must be told: its -serial is a
// 16550 UART, its disks virtio-blk by serial (the args below); no shares.
var facts = vmhost.GuestFacts{Console: protocol.ConsoleUART}

// userNetOptions put the guest on QEMU's user network, at its built-in
// addresses.
func userNetOptions(o *protocol.Options) {
	o.Address = netip.MustParsePrefix("10.0.2.15/24")
	o.Gateway = netip.MustParseAddr("10.0.2.2")
	o.DNS = []netip.Addr{netip.MustParseAddr("10.0.2.3")}
	o.HostGateway = o.Gateway
}

// VM is a running guest.
type VM struct {
	Net        *vnet.Network
	API        *protocol.Client
	DockerSock string // host unix socket proxied to the guest engine
	SerialLog  string
	Launched   time.Time // when QEMU was started
	// HostPorts maps each of Options.UserNet's guest ports to its host
	// port on 127.0.0.1.
	HostPorts map[int]int

	cmd    *exec.Cmd
	exited chan error
	gone   chan struct{} // closed when QEMU has exited
	cancel context.CancelFunc
}

// Boot starts QEMU and returns at once; use WaitReady. ctx bounds the life
// of the VM's network, so cancelling it cuts the guest off.
func Boot(ctx context.Context, o Options, log *slog.Logger) (*VM, error) {
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return nil, err
	}
	if _, err := os.Stat(o.DataDisk); errors.Is(err, os.ErrNotExist) {
		f, err := os.Create(o.DataDisk)
		if err != nil {
			return nil, err
		}
		err = f.Truncate(o.DataSize)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	dockerSock := filepath.Join(o.StateDir, "docker.sock")
	os.Remove(dockerSock)
	dockL, err := net.Listen("unix", dockerSock)
	if err != nil {
		cancel()
		return nil, err
	}
	os.Chmod(dockerSock, 0o600) //nolint:errcheck // the socket is in a 0700 directory already
	v := &VM{DockerSock: dockerSock, cancel: cancel, exited: make(chan error, 1), gone: make(chan struct{})}
	// The guest's options, composed as the daemon does.
	facts := facts
	if o.Arch == "arm64" {
		facts = vmhost.GuestFacts{Console: protocol.ConsoleVirtio}
	}
	gcfg := vmhost.GuestOptions(protocol.HostGatewayIP, nil, facts)
	var netdev string
	if o.UserNet != nil {
		netdev, err = v.userNet(append([]int{protocol.APIPort, protocol.EnginePort}, o.UserNet...))
		if err != nil {
			cancel()
			return nil, err
		}
		userNetOptions(&gcfg)
		var d net.Dialer
		host := func(port int) string { return fmt.Sprintf("127.0.0.1:%d", v.HostPorts[port]) }
		v.API = protocol.NewClient(host(protocol.APIPort), func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", host(protocol.APIPort))
		})
		go relay.Forward(ctx, dockL, func(ctx context.Context) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", host(protocol.EnginePort))
		}, relay.Join, log)
	} else {
		ncfg := vnet.DefaultConfig()
		if ncfg.DNS, err = hostdns.NewHostResolver(log); err != nil {
			cancel()
			return nil, err
		}
		netw, err := vnet.New(ncfg, log)
		if err != nil {
			cancel()
			return nil, err
		}
		nicSock := filepath.Join(o.StateDir, "net.sock")
		os.Remove(nicSock)
		nicL, err := net.Listen("unix", nicSock)
		if err != nil {
			cancel()
			return nil, err
		}
		go func() {
			if err := netw.ServeQEMU(ctx, nicL); err != nil {
				log.Error("the VM's network link stopped", "err", err)
			}
		}()
		go relay.Forward(ctx, dockL, func(ctx context.Context) (net.Conn, error) {
			return netw.DialGuest(ctx, protocol.EnginePort)
		}, relay.Join, log)
		v.Net = netw
		v.API = protocol.NewClient(fmt.Sprintf("%s:%d", netw.Config().Guest, protocol.APIPort), netw.Dialer())
		netdev = "stream,id=net0,server=off,addr.type=unix,addr.path=" + nicSock
	}
	cmdline, err := vmhost.KernelCmdline(gcfg, facts)
	if err != nil {
		cancel()
		return nil, err
	}

	serial := filepath.Join(o.StateDir, "serial.log")
	// A /dev/kvm that exists may still not work (nested sandboxes fail on
	// vCPU setup), so acceleration is asked for (BERTH_ACCEL=kvm), not
	// guessed as the libvirt backend can afford to.
	// One TCG thread: QEMU 7.2's multi-threaded TCG races the guest
	// kernel's text patching and panics it at random (README "KVM").
	accel := "tcg,thread=single"
	if a := os.Getenv("BERTH_ACCEL"); a != "" {
		accel = a
	}
	qemu, machine, console := "qemu-system-x86_64", []string{"-machine", "q35", "-cpu", "max"}, []string{"-serial", "file:" + serial}
	if o.Arch == "arm64" {
		// pauth-impdef: QEMU's own pointer-authentication hash, much
		// cheaper to emulate than the architected one -cpu max has.
		qemu, machine = "qemu-system-aarch64", []string{"-machine", "virt", "-cpu", "max,pauth-impdef=on"}
		console = []string{"-device", "virtio-serial-pci", "-chardev", "file,id=con,path=" + serial,
			"-device", "virtconsole,chardev=con"}
		if os.Getenv("BERTH_ACCEL") == "" {
			accel = "tcg"
		}
	}
	args := slices.Concat([]string{"-accel", accel}, machine, []string{
		"-smp", fmt.Sprint(o.CPUs), "-m", fmt.Sprint(o.MemoryMB),
		"-nodefaults", "-no-user-config", "-display", "none",
	}, console, []string{
		"-kernel", filepath.Join(o.GuestDir, "vmlinuz"),
		"-initrd", filepath.Join(o.GuestDir, "initrd.img"),
		"-append", cmdline,
		"-drive", "if=none,id=system,format=raw,readonly=on,file=" + filepath.Join(o.GuestDir, "system.img"),
		"-device", "virtio-blk-pci,drive=system,serial=" + protocol.SystemDiskSerial,
		"-drive", "if=none,id=data,format=raw,cache=none,aio=threads,discard=unmap,file=" + o.DataDisk,
		"-device", "virtio-blk-pci,drive=data,serial=" + protocol.DataDiskSerial,
		"-netdev", netdev,
		"-device", "virtio-net-pci,netdev=net0,mac=" + vnet.DefaultConfig().GuestMAC,
		"-device", "virtio-rng-pci",
		"-no-reboot",
	})
	cmd := exec.Command(qemu, args...)
	// Its own process group: a Ctrl-C meant for us must not kill the VM
	// before the guest has shut down cleanly.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	out, err := os.Create(filepath.Join(o.StateDir, "qemu.log"))
	if err != nil {
		cancel()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = out, out
	v.SerialLog, v.cmd = serial, cmd
	v.Launched = time.Now()
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("start qemu: %w", err)
	}
	go func() {
		err := cmd.Wait()
		out.Close()
		v.exited <- err
		close(v.exited)
		close(v.gone)
	}()
	return v, nil
}

// userNet picks a free host port for each guest port and returns QEMU's
// user netdev forwarding them.
func (v *VM) userNet(guestPorts []int) (string, error) {
	v.HostPorts = map[int]int{}
	netdev := "user,id=net0"
	for _, gp := range guestPorts {
		// Free now; QEMU binds it a moment later. Good enough for tests.
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("pick a host port: %w", err)
		}
		hp := l.Addr().(*net.TCPAddr).Port
		l.Close()
		v.HostPorts[gp] = hp
		netdev += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", hp, gp)
	}
	return netdev, nil
}

// PID is QEMU's process id.
func (v *VM) PID() int { return v.cmd.Process.Pid }

// WaitReady waits until the guest is ready, has failed, or QEMU exited.
func (v *VM) WaitReady(ctx context.Context) (protocol.Health, error) {
	h, err := v.API.WaitReady(ctx, v.gone, nil)
	if err != nil {
		return h, fmt.Errorf("%w (serial log %s)", err, v.SerialLog)
	}
	return h, nil
}

// Shutdown asks the guest to power off and waits for QEMU to exit.
func (v *VM) Shutdown(ctx context.Context) error {
	defer v.cancel()
	if err := v.API.Shutdown(ctx, false); err != nil {
		return err
	}
	return v.Wait(ctx)
}

// Wait waits for QEMU to exit.
func (v *VM) Wait(ctx context.Context) error {
	select {
	case err := <-v.exited:
		return err
	case <-ctx.Done():
		return fmt.Errorf("qemu still running: %w", ctx.Err())
	}
}

// Kill stops QEMU at once (a crash, from the guest's point of view).
func (v *VM) Kill() {
	v.cmd.Process.Kill()
	<-v.exited //nolint:errcheck // Wait reports how QEMU ended
	v.cancel()
}
