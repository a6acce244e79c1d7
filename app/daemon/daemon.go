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
	"sync"
	"time"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/app/dockerctx"
	"github.com/berthvm/berth/app/settings"
	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/netproxy/portfwd"
	"github.com/berthvm/berth/netproxy/vnet"
	"github.com/berthvm/berth/vmhost"
)

// ContextName is the docker context Berth maintains.
const ContextName = dockerctx.Berth

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
	o    Options
	life *lifecycle

	mu       sync.Mutex
	run      *session // the running machine's parts; nil when stopped
	settings settings.Settings
	bootTime time.Duration
	// recovered says that this daemon found a VM left behind by one that
	// died; the next start tells the user.
	recovered string

	// dialGuest, when set, replaces the virtual network's way to the
	// guest: tests run the daemon against a fake guest API without a VM.
	dialGuest func(ctx context.Context, port int) (net.Conn, error)
	// balloonEvery, when set, replaces how often the balloon samples the
	// guest (balloon.Interval).
	balloonEvery time.Duration
}

// session is what one start brings up and one stop tears down.
type session struct {
	ctx    context.Context // ends when the session is torn down
	cancel context.CancelFunc
	net    *vnet.Network
	// dial reaches a port of the guest's eth0 (the virtual network's
	// DialGuest, or a test's fake guest).
	dial     func(ctx context.Context, port int) (net.Conn, error)
	guest    *protocol.Client
	guestAPI string // host:port of the guest API inside the network
	clock    *clockSync
	fwd      *portfwd.Forwarder
	stopped  chan struct{} // closed when the VM is seen stopped
	goneOnce sync.Once
	// goneReason says why the VM stopped by itself (set before stopped is closed).
	goneReason string
	notes      []string     // what the backend told at this start (under Daemon.mu)
	cas        *control.CAs // the host CAs last carried into the guest (under Daemon.mu)
	// inStart is set while the backend boots the machine, when it may stop
	// and boot it again (KVM falling back to emulation).
	inStart bool
	wg      sync.WaitGroup
	// expectStop is set before a stop is asked for, so the watcher tells an
	// ordered stop from a crash.
	expectStop bool
	// held says why the VM is paused until the host has room (hostdisk.go).
	held string
	// stall is the guest's word on a disk that stopped answering
	// (diskstall.go).
	stall *stallWatch
}

// New returns a daemon for the machine.
func New(o Options) *Daemon {
	return &Daemon{o: o, life: newLifecycle()}
}

// Recover deals with a VM left behind by a daemon that died: without the
// daemon's network it is unreachable, so it is stopped (its disk recovers
// through the filesystem journal at next boot).
func (d *Daemon) Recover(ctx context.Context) error {
	st, err := d.o.Backend.State(ctx, d.o.Paths.VMName())
	if err != nil {
		return err
	}
	if st == vmhost.Running || st == vmhost.Paused || st == vmhost.Suspended {
		d.o.Log.Warn("found the VM running without a daemon (did the daemon crash?); stopping it", "state", st)
		if err := d.o.Backend.Kill(ctx, d.o.Paths.VMName()); err != nil {
			return err
		}
		d.mu.Lock()
		d.recovered = "recovered a machine left behind: its VM was " + string(st) + " without a daemon (the last one crashed or was killed), so it was stopped and booted again; the data disk is checked at boot"
		d.mu.Unlock()
	}
	return nil
}

// Status reports the daemon's view.
func (d *Daemon) Status(ctx context.Context) control.Status {
	state, step, reason := d.life.snapshot()
	d.mu.Lock()
	s := control.Status{
		State: state, Step: step, Reason: reason,
		CPUs: d.settings.CPUs, MemoryMiB: d.settings.MemoryMiB, DiskGiB: d.settings.DiskGiB,
		ContainerLogMiB: d.settings.ContainerLogMiB, ContainerLogFiles: d.settings.ContainerLogFiles,
		ContainerProxy: d.settings.ContainerProxy, ContainerCAs: d.settings.ContainerCAs,
		DockerSocket: d.o.Paths.DockerSocket(), Context: ContextName, Shares: d.settings.Shares,
		DaemonLog: d.o.Paths.DaemonLog(), SerialLog: d.o.Paths.SerialLog(),
		DaemonPid: os.Getpid(), Version: d.o.Version, BootSeconds: d.bootTime.Seconds(),
	}
	run := d.run
	if d.recovered != "" && (state == control.Starting || state == control.Running) {
		s.Notes = append(s.Notes, d.recovered)
	}
	if run != nil {
		s.Notes = append(s.Notes, run.notes...)
		s.CAs = run.cas
		if state == control.Running && run.held != "" {
			s.Reason = run.held
		}
	}
	d.mu.Unlock()
	if run != nil && state == control.Running && s.Reason == "" {
		hctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		if h, err := run.guest.Health(hctx); err == nil {
			s.Guest = &h
			run.stall.set(h.DiskStall)
			if st, err := run.guest.Stats(hctx); err == nil {
				h.Problems = append(h.Problems, dataDiskProblems(st.DataDisk, s.DiskGiB)...)
			}
		}
		cancel()
		s.DiskStall = run.stall.get()
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
	if err := d.life.to(control.Starting, "loading settings", ""); err != nil {
		return err
	}
	s, err := settings.Load(d.o.Paths, d.o.Host)
	if err == nil {
		err = s.Validate(d.o.Host, nil)
	}
	if err != nil {
		if terr := d.life.to(control.Error, "", err.Error()); terr != nil {
			d.o.Log.Warn("settings refused", "err", err, "state", terr)
		}
		return err
	}
	d.mu.Lock()
	d.settings = s
	d.mu.Unlock()
	go d.boot(s)
	return nil
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
		d.life.progress("waiting for the engine (guest: " + s.Name + ")")
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
// hypervisor's reason. A VM paused because the host disk is full is held
// until there is room instead (hostdisk.go). A user's suspend is no
// failure: the VM goes on when resumed, and the clock sync catches its
// clock up.
func (d *Daemon) watch(run *session, states <-chan vmhost.State) {
	for st := range states {
		run.clock.vmState(st)
		if st == vmhost.Running || st == vmhost.Suspended {
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
		case st == vmhost.Paused && d.holdPaused(run):
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
		reason += ": " + dg.Diagnose(context.Background(), d.o.Paths.VMName())
	}
	if p := lastPanic(d.o.Paths.SerialLog()); p != "" {
		reason += "; the guest kernel panicked: " + p
	}
	reason += "; its console: " + d.o.Paths.SerialLog()
	d.markStopped(run, reason)
	if state, _, _ := d.life.snapshot(); state == control.Running {
		d.o.Log.Error("the VM left the running state by itself", "state", st, "reason", reason)
		go func() {
			// A paused VM still holds its memory: it goes too.
			d.teardown(st == vmhost.Paused)
			d.life.toFrom(control.Running, control.Error, "", reason)
		}()
	}
}

// Stop shuts the machine down: through the guest (containers stop, the
// engine flushes, the data disk is unmounted) unless force, then the VM.
func (d *Daemon) Stop(ctx context.Context, force bool) error {
	state, _, _ := d.life.snapshot()
	if state == control.Error {
		// Whatever is left of a failed start or a crash goes.
		d.teardown(true)
		return d.life.to(control.Stopped, "", "")
	}
	if err := d.life.to(control.Stopping, "stopping containers and the engine", ""); err != nil {
		return err
	}
	d.mu.Lock()
	d.recovered = ""
	run := d.run
	if run != nil {
		run.expectStop = true
	}
	d.mu.Unlock()
	if run != nil && !force {
		if s := run.stall.get(); s != nil {
			// Containers and the engine would wait on the disk, and so would
			// the final sync: the clean stop would only end at stopTimeout.
			d.o.Log.Warn("a disk of the VM stopped answering: powering the VM off without stopping containers", "device", s.Device)
			force = true
		}
	}
	if run != nil && !force {
		if err := d.shutdownGuest(ctx, run); err != nil {
			d.o.Log.Warn("graceful stop failed; stopping the VM", "err", err)
		}
	}
	d.teardown(true)
	return d.life.to(control.Stopped, "", "")
}

func (d *Daemon) shutdownGuest(ctx context.Context, run *session) error {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := run.guest.Shutdown(sctx, false)
	cancel()
	if err != nil {
		return err
	}
	d.life.progress("waiting for the VM to power off")
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
		if err := d.o.Backend.Kill(context.Background(), d.o.Paths.VMName()); err != nil {
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
	if state, _, _ := d.life.snapshot(); state != control.Stopped {
		if err := d.Stop(ctx, false); err != nil {
			return err
		}
	}
	if err := d.o.Backend.Delete(ctx, d.o.Paths.VMName()); err != nil {
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
	if err := restrictSocket(path); err != nil {
		l.Close()
		return nil, fmt.Errorf("make %s private: %w", path, err)
	}
	return l, nil
}
