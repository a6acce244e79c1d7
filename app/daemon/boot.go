package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/app/dockerctx"
	"github.com/berthvm/berth/app/settings"
	"github.com/berthvm/berth/filesharing"
	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/netproxy/apifilter"
	"github.com/berthvm/berth/netproxy/hostdns"
	"github.com/berthvm/berth/netproxy/portfwd"
	"github.com/berthvm/berth/netproxy/relay"
	"github.com/berthvm/berth/netproxy/vnet"
	"github.com/berthvm/berth/vmhost"
)

// errStopping ends a boot that a stop overtook: the stop tears down and
// reports.
var errStopping = errors.New("stopped while booting")

// boot brings the machine up, one named step after the other; a failed
// step tears down what the steps before it brought up.
func (d *Daemon) boot(s settings.Settings) {
	start := time.Now()
	if err := d.bootSteps(s); err != nil {
		if st, _, _ := d.life.snapshot(); st != control.Starting {
			return // stopped while booting: the stop tears down and reports
		}
		d.o.Log.Error("start failed", "err", err)
		d.teardown(true)
		d.life.toFrom(control.Starting, control.Error, "", err.Error())
		return
	}
	d.mu.Lock()
	d.bootTime = time.Since(start)
	d.mu.Unlock()
	d.o.Log.Info("running", "boot", d.bootTime.Round(time.Millisecond))
	if err := d.life.to(control.Running, "", ""); err != nil {
		d.o.Log.Warn("booted, but", "err", err) // stopped meanwhile
	}
}

func (d *Daemon) bootSteps(s settings.Settings) error {
	d.life.progress("preparing the data disk")
	if err := d.prepareDisk(s.DiskGiB); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &session{ctx: ctx, cancel: cancel, stopped: make(chan struct{}), stall: newStallWatch(d.o.Log)}
	d.mu.Lock()
	d.run = run
	d.mu.Unlock()

	d.life.progress("starting the virtual network")
	if err := d.startNetwork(ctx, run); err != nil {
		return err
	}
	d.life.progress("booting the VM")
	if err := d.startVM(ctx, run, s); err != nil {
		return err
	}
	d.life.progress("waiting for the engine")
	if err := d.waitGuest(ctx, run); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return errStopping
	}
	if err := d.startForwards(ctx, run, s.Shares, s.ContainerCAs); err != nil {
		return err
	}
	run.goRun(func() { run.stall.poll(ctx, run.guest.Health) })
	d.startFSEvents(ctx, run, s.Shares, s.Excludes())
	d.startBalloon(ctx, run, s.MemoryMiB)
	d.ensureContext(s.Activate)
	d.containerProxies(s.ContainerProxy)
	return nil
}

// prepareDisk creates or grows the data disk and checks the guest image.
func (d *Daemon) prepareDisk(sizeGiB int) error {
	created, grown, err := vmhost.EnsureDisk(vmhost.DiskFileOf(d.o.Backend), d.o.Paths.DataDisk(), int64(sizeGiB)<<30)
	if err != nil {
		return err
	}
	if created || grown {
		d.o.Log.Info("data disk ready", "created", created, "grown", grown, "size_gib", sizeGiB)
	}
	for _, f := range vmhost.GuestFilesOf(d.o.Backend, d.o.GuestDir) {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("guest image incomplete: %w (build it with `make guest-image`, or set BERTH_GUEST_DIR)", err)
		}
	}
	return nil
}

// startNetwork starts the virtual network, the VM's NIC socket on it, and
// the guest API's client.
func (d *Daemon) startNetwork(ctx context.Context, run *session) error {
	cfg := vnet.DefaultConfig()
	cfg.MTU = d.o.Backend.GuestFacts().MTU()
	// The guest's names resolve as the host resolves them, following its
	// changes (a VPN coming up) for as long as the machine runs.
	hostDNS, err := hostdns.NewHostResolver(d.o.Log.With("part", "dns"))
	if err != nil {
		return fmt.Errorf("host DNS: %w", err)
	}
	run.goRun(func() {
		if err := hostDNS.Run(ctx); err != nil {
			d.o.Log.Error("no longer following the host's DNS configuration", "err", err)
		}
	})
	cfg.DNS = hostDNS
	nw, err := vnet.New(cfg, d.o.Log)
	if err != nil {
		return err
	}
	run.net = nw
	run.dial = nw.DialGuest
	if d.dialGuest != nil {
		run.dial = d.dialGuest
	}
	run.guestAPI = net.JoinHostPort(nw.Config().Guest.String(), strconv.Itoa(protocol.APIPort))
	run.guest = protocol.NewClient(run.guestAPI, func(ctx context.Context, _, _ string) (net.Conn, error) {
		return run.dial(ctx, protocol.APIPort)
	})
	run.clock = newClockSync(run.guest, systemClock(), d.o.Log)
	run.goRun(func() { run.clock.Run(ctx) })
	if err := d.startProxy(ctx, run, nw); err != nil {
		return err
	}
	nicL, err := listenUnix(d.o.Paths.NetSocket())
	if err != nil {
		return err
	}
	run.goRun(func() {
		if err := nw.ServeQEMU(ctx, nicL); err != nil {
			d.o.Log.Error("the VM's network link stopped", "err", err)
		}
	})
	return nil
}

// startVM watches the VM, composes its spec and boots it.
func (d *Daemon) startVM(ctx context.Context, run *session, s settings.Settings) error {
	watch, err := d.o.Backend.Watch(ctx, d.o.Paths.VMName())
	if err != nil {
		return err
	}
	run.goRun(func() { d.watch(run, watch) })

	os.Remove(d.o.Paths.SerialLog())
	nw := run.net
	spec := vmhost.Spec{
		Name: d.o.Paths.VMName(), CPUs: s.CPUs, MemoryMiB: s.MemoryMiB,
		Kernel:      filepath.Join(d.o.GuestDir, "vmlinuz"),
		Initrd:      filepath.Join(d.o.GuestDir, "initrd.img"),
		SystemImage: filepath.Join(d.o.GuestDir, "system.img"),
		DataDisk:    d.o.Paths.DataDisk(),
		NetSocket:   d.o.Paths.NetSocket(), Network: nw, MAC: nw.Config().GuestMAC,
		SerialLog: d.o.Paths.SerialLog(),
	}
	spec.Shares, spec.Cmdline, err = guestSetup(runtime.GOOS, s, nw.Config().HostAlias, d.o.Backend.GuestFacts(), time.Now())
	if err != nil {
		return err
	}
	spec.Progress = func(note string) {
		d.mu.Lock()
		run.notes = append(run.notes, note)
		d.mu.Unlock()
		d.life.progress(note)
	}
	d.mu.Lock()
	run.inStart = true
	d.mu.Unlock()
	err = d.o.Backend.Start(ctx, spec)
	d.mu.Lock()
	run.inStart = false
	d.mu.Unlock()
	if err != nil {
		return err
	}
	// Whatever happened to the VM while the backend booted it was not seen.
	if st, err := d.o.Backend.State(ctx, spec.Name); err == nil && st != vmhost.Running {
		d.vmGone(run, st)
	}
	return nil
}

// guestSetup is what the hypervisor exports and the guest's command line,
// composed once from the settings' shared folders and container log limit,
// the network and the backend's facts. The guest steps its clock to at
// least hostTime at boot (clockSync makes the precise step once its API
// answers).
func guestSetup(goos string, s settings.Settings, hostGateway netip.Addr, f vmhost.GuestFacts, hostTime time.Time) ([]vmhost.Share, string, error) {
	host, guest, err := shareSpecs(goos, s.Shares)
	if err != nil {
		return nil, "", err
	}
	o := vmhost.GuestOptions(hostGateway, guest, f)
	o.HostTime = hostTime.Unix()
	o.ContainerLogMiB, o.ContainerLogFiles = s.ContainerLogMiB, s.ContainerLogFiles
	o.ProxyPort = protocol.ProxyPort
	line, err := vmhost.KernelCmdline(o, f)
	return host, line, err
}

// shareSpecs turns the shared folders into what the hypervisor exports
// (tag and host path) and what guestd mounts (tag and VM path).
func shareSpecs(goos string, shares []filesharing.Share) ([]vmhost.Share, []protocol.Share, error) {
	var host []vmhost.Share
	var guest []protocol.Share
	for i, sh := range shares {
		vmPath, err := filesharing.GuestPath(goos, sh.HostPath)
		if err != nil {
			return nil, nil, fmt.Errorf("shared folder %s: %w", sh.HostPath, err)
		}
		tag := "berth" + strconv.Itoa(i)
		host = append(host, vmhost.Share{Tag: tag, HostPath: sh.HostPath, ReadOnly: sh.ReadOnly})
		guest = append(guest, protocol.Share{Tag: tag, Path: vmPath, ReadOnly: sh.ReadOnly})
	}
	return host, guest, nil
}

// startForwards serves the docker socket and follows published ports.
func (d *Daemon) startForwards(ctx context.Context, run *session, shares []filesharing.Share, cas bool) error {
	dockL, err := listenDocker(d.o.Paths.DockerSocket())
	if err != nil {
		return err
	}
	engine := func(ctx context.Context) (net.Conn, error) { return run.dial(ctx, protocol.EnginePort) }
	// Container-create requests are vetted against the shares this
	// machine booted with (their bind sources become VM paths) and for
	// host addresses ports cannot be published on.
	binds := filesharing.HostPolicy(shares).RewriteCreate
	vet := func(body []byte) ([]byte, error) {
		body, err := binds(body)
		if err != nil {
			return nil, err
		}
		if cas {
			if body, err = withHostCAs(body); err != nil {
				return nil, err
			}
		}
		return portfwd.VetCreate(body)
	}
	// While a disk of the VM stalls, the engine cannot answer: the socket
	// answers for it, also to requests already waiting (diskstall.go).
	filter := &apifilter.Filter{Vet: vet, Gate: run.stall.gate, Log: d.o.Log}
	run.stall.onStall(filter.Recheck)
	run.goRun(func() { relay.Forward(ctx, dockL, engine, filter.Join, d.o.Log) })
	nw := run.net
	run.fwd = portfwd.New(portfwd.Config{
		Engine: engine,
		// The guest's own address is reached through the virtual network;
		// the VM's loopback (where dockerd binds -p 127.0.0.1:…) from
		// inside, by guestd.
		Guest: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if network == "tcp" && protocol.CheckDialAddr(network, addr) != nil {
				return nw.Dial(ctx, addr)
			}
			conn, err := run.dial(ctx, protocol.APIPort)
			if err != nil {
				return nil, err
			}
			return protocol.Dial(ctx, conn, network, addr)
		},
		GuestIP: nw.Config().Guest.String(),
		Log:     d.o.Log,
	})
	run.goRun(func() {
		if err := run.fwd.Run(ctx); err != nil {
			d.o.Log.Error("port publishing stopped", "err", err)
		}
	})
	return nil
}

// ensureContext writes the docker context, and makes it current if asked;
// docker works without it, so a failure is a warning.
func (d *Daemon) ensureContext(activate bool) {
	if err := d.o.Contexts.Ensure(ContextName, dockerctx.HostURL(d.o.Paths.DockerSocket()), "Berth"); err != nil {
		d.o.Log.Warn("could not write the docker context", "err", err)
	} else if activate {
		if err := d.o.Contexts.Use(ContextName); err != nil {
			d.o.Log.Warn("could not make the docker context current", "err", err)
		}
	}
}
