// Package daemon owns a running Berth machine: it wires the hypervisor
// backend, the virtual network, the docker socket, port forwarding and the
// docker context, keeps the state machine, and serves the control API that
// the CLI and the GUI use. The VM lives as long as the daemon, not as long
// as any window.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/app/settings"
	"github.com/berthvm/berth/filesharing"
	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/netproxy"
	"github.com/berthvm/berth/netproxy/apifilter"
	"github.com/berthvm/berth/netproxy/dockerctx"
	"github.com/berthvm/berth/netproxy/portfwd"
	"github.com/berthvm/berth/vmhost"
)

// ContextName is the docker context Berth maintains.
const ContextName = "berth"

// Timeouts of the machine's life.
const (
	readyTimeout = 10 * time.Minute // first boot under emulation formats the disk and loads images
	stopTimeout  = 3 * time.Minute  // containers get their own stop timeouts first
)

// Options configure a daemon.
type Options struct {
	Paths    settings.Paths
	Host     settings.Host
	GuestDir string // vmlinuz, initrd.img, system.img
	Backend  vmhost.Backend
	Contexts dockerctx.Store
	Version  string
	Log      *slog.Logger
}

// Daemon runs one machine.
type Daemon struct {
	o Options
	m *machine

	mu       sync.Mutex
	run      *session // the running machine's parts; nil when stopped
	settings settings.Settings
	bootTime time.Duration
}

// session is what one start brings up and one stop tears down.
type session struct {
	cancel   context.CancelFunc
	net      *netproxy.Network
	guest    *protocol.Client
	guestAPI string // host:port of the guest API inside the network
	fwd      *portfwd.Forwarder
	stopped  chan struct{} // closed when the VM is seen stopped
	goneOnce sync.Once
	// goneReason says why the VM stopped by itself (set before stopped is closed).
	goneReason string
	notes      []string // what the backend told at this start (under Daemon.mu)
	// inStart is set while the backend boots the machine, when it may stop
	// and boot it again (KVM falling back to emulation).
	inStart bool
	wg      sync.WaitGroup
	// expectStop is set before a stop is asked for, so the watcher tells an
	// ordered stop from a crash.
	expectStop bool
}

// New returns a daemon for the machine.
func New(o Options) *Daemon {
	return &Daemon{o: o, m: newMachine()}
}

// Recover deals with a VM left behind by a daemon that died: without the
// daemon's network it is unreachable, so it is stopped (its disk recovers
// through the filesystem journal at next boot).
func (d *Daemon) Recover(ctx context.Context) error {
	st, err := d.o.Backend.State(ctx, d.o.Paths.MachineName())
	if err != nil {
		return err
	}
	if st == vmhost.Running || st == vmhost.Paused {
		d.o.Log.Warn("found the VM running without a daemon (did the daemon crash?); stopping it", "state", st)
		return d.o.Backend.Kill(ctx, d.o.Paths.MachineName())
	}
	return nil
}

// Status reports the daemon's view.
func (d *Daemon) Status(ctx context.Context) control.Status {
	state, step, reason := d.m.snapshot()
	d.mu.Lock()
	s := control.Status{
		State: state, Step: step, Reason: reason,
		CPUs: d.settings.CPUs, MemoryMiB: d.settings.MemoryMiB, DiskGiB: d.settings.DiskGiB,
		DockerSocket: d.o.Paths.DockerSocket(), Context: ContextName, Shares: d.settings.Shares,
		DaemonLog: d.o.Paths.DaemonLog(), SerialLog: d.o.Paths.SerialLog(),
		DaemonPid: os.Getpid(), Version: d.o.Version, BootSeconds: d.bootTime.Seconds(),
	}
	run := d.run
	if run != nil {
		s.Notes = append([]string(nil), run.notes...)
	}
	d.mu.Unlock()
	if run != nil && state == control.Running {
		hctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		if h, err := run.guest.Health(hctx); err == nil {
			s.Guest = &h
		}
		cancel()
		for _, f := range run.fwd.Status() {
			s.Forwards = append(s.Forwards, control.Forward{
				Container: f.Name, Published: f.Published, Proto: f.Proto, HostIP: f.HostIP, HostPort: f.HostPort, Error: f.Error,
			})
		}
	}
	return s
}

// Start boots the machine. It returns once the start is under way; progress
// and the outcome go to the state machine's subscribers.
func (d *Daemon) Start(ctx context.Context) error {
	if err := d.m.to(control.Starting, "loading settings", ""); err != nil {
		return err
	}
	s, err := settings.Load(d.o.Paths, d.o.Host)
	if err == nil {
		err = s.Validate(d.o.Host, nil)
	}
	if err != nil {
		d.m.to(control.Error, "", err.Error())
		return err
	}
	d.mu.Lock()
	d.settings = s
	d.mu.Unlock()
	go d.boot(s)
	return nil
}

func (d *Daemon) boot(s settings.Settings) {
	start := time.Now()
	fail := func(err error) {
		if st, _, _ := d.m.snapshot(); st != control.Starting {
			return // stopped while booting: the stop tears down and reports
		}
		d.o.Log.Error("start failed", "err", err)
		d.teardown(true)
		d.m.toFrom(control.Starting, control.Error, "", err.Error())
	}
	d.m.progress("preparing the data disk")
	created, grown, err := vmhost.EnsureDisk(vmhost.DiskFileOf(d.o.Backend), d.o.Paths.DataDisk(), int64(s.DiskGiB)<<30)
	if err != nil {
		fail(err)
		return
	}
	if created || grown {
		d.o.Log.Info("data disk ready", "created", created, "grown", grown, "size_gib", s.DiskGiB)
	}
	for _, f := range []string{"vmlinuz", "initrd.img", "system.img"} {
		if _, err := os.Stat(filepath.Join(d.o.GuestDir, f)); err != nil {
			fail(fmt.Errorf("guest image incomplete: %w (build it with `make guest-image`, or set BERTH_GUEST_DIR)", err))
			return
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	run := &session{cancel: cancel, stopped: make(chan struct{})}
	d.mu.Lock()
	d.run = run
	d.mu.Unlock()

	d.m.progress("starting the virtual network")
	ncfg := netproxy.DefaultConfig()
	if l, ok := d.o.Backend.(vmhost.LinkMTU); ok {
		ncfg.MTU = l.LinkMTU()
	}
	nw, err := netproxy.New(ncfg, d.o.Log)
	if err != nil {
		fail(err)
		return
	}
	run.net = nw
	gcfg := protocol.DefaultOptions()
	gcfg.HostGateway = nw.Config().HostAlias
	gcfg.MTU = nw.Config().MTU
	run.guestAPI = net.JoinHostPort(nw.Config().Guest.String(), strconv.Itoa(gcfg.APIPort))
	run.guest = protocol.NewClient(run.guestAPI, nw.Dialer())
	nicL, err := listenUnix(d.o.Paths.NetSocket())
	if err != nil {
		fail(err)
		return
	}
	run.goRun(func() { nw.ServeQemu(ctx, nicL) })

	watch, err := d.o.Backend.Watch(ctx, d.o.Paths.MachineName())
	if err != nil {
		fail(err)
		return
	}
	run.goRun(func() { d.watch(run, watch) })

	d.m.progress("booting the VM")
	os.Remove(d.o.Paths.SerialLog())
	spec := vmhost.Spec{
		Name: d.o.Paths.MachineName(), CPUs: s.CPUs, MemoryMiB: s.MemoryMiB,
		Kernel:      filepath.Join(d.o.GuestDir, "vmlinuz"),
		Initrd:      filepath.Join(d.o.GuestDir, "initrd.img"),
		SystemImage: filepath.Join(d.o.GuestDir, "system.img"),
		DataDisk:    d.o.Paths.DataDisk(),
		NetSocket:   d.o.Paths.NetSocket(), Network: nw, MAC: nw.Config().GuestMAC,
		SerialLog: d.o.Paths.SerialLog(),
	}
	if spec.Shares, gcfg.Shares, err = shareSpecs(runtime.GOOS, s.Shares); err != nil {
		fail(err)
		return
	}
	if spec.Cmdline, err = kernelCmdline(gcfg); err != nil {
		fail(err)
		return
	}
	spec.Progress = func(note string) {
		d.mu.Lock()
		run.notes = append(run.notes, note)
		d.mu.Unlock()
		d.m.progress(note)
	}
	d.mu.Lock()
	run.inStart = true
	d.mu.Unlock()
	err = d.o.Backend.Start(ctx, spec)
	d.mu.Lock()
	run.inStart = false
	d.mu.Unlock()
	if err != nil {
		fail(err)
		return
	}
	// Whatever happened to the VM while the backend booted it was not seen.
	if st, err := d.o.Backend.State(ctx, spec.Name); err == nil && st != vmhost.Running {
		d.vmGone(run, st)
	}

	d.m.progress("waiting for the engine")
	if err := d.waitGuest(ctx, run); err != nil {
		fail(err)
		return
	}
	if ctx.Err() != nil {
		return // stopped while booting: teardown has run
	}

	dockL, err := listenDocker(d.o.Paths.DockerSocket())
	if err != nil {
		fail(err)
		return
	}
	run.goRun(func() {
		// Container-create requests are vetted against the shares this
		// machine booted with (their bind sources become VM paths) and
		// for host addresses ports cannot be published on.
		binds := filesharing.HostPolicy(s.Shares).RewriteCreate
		vet := func(body []byte) ([]byte, error) {
			body, err := binds(body)
			if err != nil {
				return nil, err
			}
			return portfwd.VetCreate(body)
		}
		netproxy.Forward(ctx, dockL, func(ctx context.Context) (net.Conn, error) {
			return nw.DialGuest(ctx, gcfg.EnginePort)
		}, apifilter.Joiner(vet, d.o.Log), d.o.Log)
	})
	run.fwd = portfwd.New(portfwd.Config{
		Engine: func(ctx context.Context) (net.Conn, error) { return nw.DialGuest(ctx, gcfg.EnginePort) },
		// The guest's own address is reached through the virtual network;
		// the VM's loopback (where dockerd binds -p 127.0.0.1:…) from
		// inside, by guestd.
		Guest: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if network == "tcp" && protocol.CheckDialAddr(network, addr) != nil {
				return nw.Dial(ctx, addr)
			}
			conn, err := nw.DialGuest(ctx, gcfg.APIPort)
			if err != nil {
				return nil, err
			}
			return protocol.Dial(ctx, conn, network, addr)
		},
		GuestIP: nw.Config().Guest.String(),
		Log:     d.o.Log,
	})
	run.goRun(func() { run.fwd.Run(ctx) })

	if err := d.o.Contexts.Ensure(ContextName, dockerctx.HostURL(d.o.Paths.DockerSocket()), "Berth"); err != nil {
		d.o.Log.Warn("could not write the docker context", "err", err)
	} else if s.Activate {
		if err := d.o.Contexts.Use(ContextName); err != nil {
			d.o.Log.Warn("could not make the docker context current", "err", err)
		}
	}
	d.mu.Lock()
	d.bootTime = time.Since(start)
	d.mu.Unlock()
	d.o.Log.Info("running", "boot", d.bootTime.Round(time.Millisecond))
	d.m.to(control.Running, "", "")
}

// maxCmdline is x86's COMMAND_LINE_SIZE, less room for the terminator.
const maxCmdline = 2047

// kernelCmdline is the guest's command line: the console, and guestd's
// settings that differ from its defaults.
func kernelCmdline(g protocol.Options) (string, error) {
	line := strings.Join(append([]string{protocol.ConsoleArgs}, g.KernelArgs()...), " ")
	if len(line) > maxCmdline {
		return "", fmt.Errorf("the shared folders do not fit on the VM's kernel command line (%d bytes, at most %d): share fewer folders, or a parent folder instead of several children (`berth start --unmount PATH`)", len(line), maxCmdline)
	}
	return line, nil
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

func (r *session) goRun(f func()) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f()
	}()
}

// waitGuest waits for the engine in the guest, the guest's failure, the VM
// going away or readyTimeout, whichever comes first.
func (d *Daemon) waitGuest(ctx context.Context, run *session) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	go func() {
		if err := consoleFailure(ctx, d.o.Paths.SerialLog(), time.Second); err != nil {
			fail(err)
		}
	}()
	_, err := run.guest.WaitReady(ctx, run.stopped, func(s protocol.Step) {
		d.m.progress("waiting for the engine (guest: " + s.Name + ")")
	})
	if err != nil {
		var boot *bootFailure
		if errors.As(context.Cause(ctx), &boot) {
			err = boot
		}
		select {
		case <-run.stopped:
			d.mu.Lock()
			defer d.mu.Unlock()
			return errors.New(run.goneReason)
		default:
		}
		return fmt.Errorf("%w (VM console: %s)", err, d.o.Paths.SerialLog())
	}
	return nil
}

// watch follows the hypervisor's events: a VM that stops, crashes or pauses
// without being asked to (Berth never pauses one) ends a start that waits
// for it, and puts a running machine in the error state, with the
// hypervisor's reason.
func (d *Daemon) watch(run *session, states <-chan vmhost.State) {
	for st := range states {
		if st == vmhost.Running {
			continue
		}
		d.mu.Lock()
		expected, inStart := run.expectStop, run.inStart
		d.mu.Unlock()
		switch {
		case inStart:
		case expected:
			if st != vmhost.Paused {
				d.markStopped(run, "the VM stopped")
			}
		default:
			d.vmGone(run, st)
		}
	}
}

// markStopped records that the session's VM is gone, and why, once.
func (d *Daemon) markStopped(run *session, reason string) {
	run.goneOnce.Do(func() {
		d.mu.Lock()
		run.goneReason = reason
		d.mu.Unlock()
		close(run.stopped)
	})
}

// vmGone handles a VM that left the running state by itself.
func (d *Daemon) vmGone(run *session, st vmhost.State) {
	reason := fmt.Sprintf("the VM %s unexpectedly", map[vmhost.State]string{vmhost.Stopped: "stopped", vmhost.Crashed: "crashed", vmhost.Paused: "paused", vmhost.NotFound: "vanished"}[st])
	if dg, ok := d.o.Backend.(vmhost.Diagnoser); ok {
		reason += ": " + dg.Diagnose(context.Background(), d.o.Paths.MachineName())
	}
	if p := lastPanic(d.o.Paths.SerialLog()); p != "" {
		reason += "; the guest kernel panicked: " + p
	}
	reason += "; its console: " + d.o.Paths.SerialLog()
	d.markStopped(run, reason)
	if state, _, _ := d.m.snapshot(); state == control.Running {
		d.o.Log.Error("the VM left the running state by itself", "state", st, "reason", reason)
		go func() {
			// A paused VM still holds its memory: it goes too.
			d.teardown(st == vmhost.Paused)
			d.m.toFrom(control.Running, control.Error, "", reason)
		}()
	}
}

// Stop shuts the machine down: through the guest (containers stop, the
// engine flushes, the data disk is unmounted) unless force, then the VM.
func (d *Daemon) Stop(ctx context.Context, force bool) error {
	state, _, _ := d.m.snapshot()
	if state == control.Error {
		// Whatever is left of a failed start or a crash goes.
		d.teardown(true)
		return d.m.to(control.Stopped, "", "")
	}
	if err := d.m.to(control.Stopping, "stopping containers and the engine", ""); err != nil {
		return err
	}
	d.mu.Lock()
	run := d.run
	if run != nil {
		run.expectStop = true
	}
	d.mu.Unlock()
	if run != nil && !force {
		if err := d.shutdownGuest(ctx, run); err != nil {
			d.o.Log.Warn("graceful stop failed; stopping the VM", "err", err)
		}
	}
	d.teardown(true)
	return d.m.to(control.Stopped, "", "")
}

func (d *Daemon) shutdownGuest(ctx context.Context, run *session) error {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := run.guest.Shutdown(sctx, false)
	cancel()
	if err != nil {
		return err
	}
	d.m.progress("waiting for the VM to power off")
	select {
	case <-run.stopped:
		return nil
	case <-time.After(stopTimeout):
		return fmt.Errorf("the VM did not power off within %v", stopTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// teardown kills the VM (if kill and it runs) and closes the session.
func (d *Daemon) teardown(kill bool) {
	d.mu.Lock()
	run := d.run
	d.run = nil
	if run != nil {
		run.expectStop = true
	}
	d.mu.Unlock()
	if kill {
		if err := d.o.Backend.Kill(context.Background(), d.o.Paths.MachineName()); err != nil {
			d.o.Log.Warn("kill VM", "err", err)
		}
	}
	if run == nil {
		return
	}
	run.cancel()
	run.wg.Wait()
	os.Remove(d.o.Paths.DockerSocket())
	os.Remove(d.o.Paths.NetSocket())
}

// Delete stops the machine and removes its definition and data disk.
func (d *Daemon) Delete(ctx context.Context) error {
	if state, _, _ := d.m.snapshot(); state != control.Stopped {
		if err := d.Stop(ctx, false); err != nil {
			return err
		}
	}
	if err := d.o.Backend.Delete(ctx, d.o.Paths.MachineName()); err != nil {
		return err
	}
	if err := os.Remove(d.o.Paths.DataDisk()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove data disk: %w", err)
	}
	os.Remove(d.o.Paths.SerialLog())
	if cur, err := d.o.Contexts.Current(); err == nil && cur == ContextName {
		d.o.Log.Info("the berth docker context was current; it is removed, docker falls back to default")
	}
	return d.o.Contexts.Remove(ContextName)
}

// listenUnix listens on a fresh socket private to the user.
func listenUnix(path string) (net.Listener, error) {
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
