// Package libvirt is the Linux backend of vmhost: it defines and runs the
// machine as a libvirt domain (QEMU, KVM when it works, else TCG) through
// libvirtd's RPC socket with github.com/digitalocean/go-libvirt. Root uses
// the system daemon; everyone else their own session daemon, which Berth
// starts when it does not run.
package libvirt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"

	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/vmhost"
)

// rpc is the part of go-libvirt the backend uses; tests fake it.
type rpc interface {
	DomainLookupByName(name string) (golibvirt.Domain, error)
	DomainDefineXML(xml string) (golibvirt.Domain, error)
	DomainCreate(dom golibvirt.Domain) error
	DomainDestroy(dom golibvirt.Domain) error
	DomainResume(dom golibvirt.Domain) error
	DomainGetState(dom golibvirt.Domain, flags uint32) (int32, int32, error)
	DomainUndefineFlags(dom golibvirt.Domain, flags golibvirt.DomainUndefineFlagsValues) error
	LifecycleEvents(ctx context.Context) (<-chan golibvirt.DomainEventLifecycleMsg, error)
	ConnectGetVersion() (uint64, error)
	ConnectGetLibVersion() (uint64, error)
	Disconnect() error
}

// What Backend is: every vmhost interface it implements.
var (
	_ vmhost.Backend   = (*Backend)(nil)
	_ vmhost.Diagnoser = (*Backend)(nil)
	_ vmhost.Resumer   = (*Backend)(nil)
)

// Backend runs machines through libvirtd.
type Backend struct {
	rpc rpc
	log *slog.Logger
	ep  endpoint
	kvm kvmCheck
	// probe runs guest code on KVM before a boot under KVM.
	probe kvmProbe
	// lifeBound is how long a guest under KVM may stay silent.
	lifeBound time.Duration
	// createBound is how long QEMU may take to start (create).
	createBound time.Duration
	opts        DomainOptions
	vfs         virtiofsd

	mu  sync.Mutex
	fsd map[string]*fsDaemons // per machine
}

// Options are the user's overrides of what the backend would pick, and
// where it keeps its files.
type Options struct {
	// Accel is "kvm" or "tcg" to force one; "" decides by trying KVM.
	Accel string
	// ShareFS is "virtiofs" (the default) or "9p" (QEMU's own server; the
	// guest needs the generic kernel).
	ShareFS string
	// Virtiofs is how virtiofsd serves shares (ParseShareTuning).
	Virtiofs ShareTuning
	RunDir   string // private sockets (virtiofsd)
	// StateDir keeps what the backend learned about the host (that KVM
	// does not work here) across starts.
	StateDir string
}

// virtiofsdFiles is what virtiofsd asks for as its open-files limit: QEMU's C
// virtiofsd holds a descriptor for every host file the guest has cached.
const virtiofsdFiles = 1_000_000

// warnFileLimit says when virtiofsd cannot get the open-files limit it asks
// for: it inherits this process's hard limit. Past it, the guest sees "Too
// many open files".
func warnFileLimit(log *slog.Logger) {
	if hard, ok := hardFileLimit(); ok && hard < virtiofsdFiles {
		log.Warn("virtiofsd can keep at most this many host files open (the hard open-files limit here), so a shared folder tree with more files in use at once fails in the VM with 'Too many open files'; raise the hard limit (ulimit -Hn, LimitNOFILE) for the user",
			"limit", hard)
	}
}

// Connect reaches this user's libvirtd, starting the session daemon if need be.
func Connect(ctx context.Context, log *slog.Logger, o Options) (*Backend, error) {
	home, _ := os.UserHomeDir()
	ep := endpointFor(userEnv{UID: os.Geteuid(), Getenv: os.Getenv, Home: home})
	if err := ensureDaemon(ctx, ep, findProgram(exec.LookPath, "libvirtd", daemonPaths), log); err != nil {
		return nil, err
	}
	l := golibvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(ep.Socket), dialers.WithLocalTimeout(5*time.Second)))
	if err := l.ConnectToURI(ep.URI); err != nil {
		return nil, explainConnect(ep, err)
	}
	b := newBackend(l, log, ep)
	b.kvm = kvmCheck{Force: o.Accel, Device: "/dev/kvm", Verdicts: verdicts{Path: stateFile(o.StateDir, "kvm-verdict.json")}, Boot: thisBoot()}
	switch o.ShareFS {
	case "9p":
		b.opts.ShareFS = "9p"
	case "", "virtiofs":
		v, err := newVirtiofsd(os.Geteuid())
		if err != nil {
			l.Disconnect()
			return nil, err
		}
		if o.Virtiofs.Threads > 0 && !v.Rust {
			l.Disconnect()
			// Seen here: SIGSYS on sched_getaffinity (audit type 1326)
			// from its "pool" thread, 35 s into a benchmark.
			return nil, errors.New("virtiofs threads: QEMU's C virtiofsd (Debian 12) is killed by its own seccomp filter once its thread pool runs; a pool needs the Rust virtiofsd")
		}
		v.Tuning = o.Virtiofs
		b.vfs, b.opts.ShareFS, b.opts.ShareDir = v, "virtiofs", o.RunDir
		warnFileLimit(log)
	default:
		l.Disconnect()
		return nil, fmt.Errorf("shared folder filesystem %q: want virtiofs or 9p", o.ShareFS)
	}
	return b, nil
}

// stateFile is name in dir, or "" (remember nothing) without a dir.
func stateFile(dir, name string) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, name)
}

func newBackend(r rpc, log *slog.Logger, ep endpoint) *Backend {
	arch := "x86_64"
	if runtime.GOARCH == "arm64" {
		arch = "aarch64"
	}
	machine := "q35"
	if arch == "aarch64" {
		machine = "virt"
	}
	return &Backend{rpc: r, log: log, ep: ep, fsd: map[string]*fsDaemons{}, lifeBound: kvmLifeBound, createBound: time.Minute,
		probe: kvmProbe{QEMU: findProgram(exec.LookPath, "qemu-system-"+arch, []string{"/usr/bin/qemu-system-" + arch}), Machine: machine,
			Firmware: probeFirmware(arch), GuestBound: 2 * time.Second, Timeout: 10 * time.Second},
		opts: DomainOptions{Arch: arch, UID: os.Getuid(), GID: os.Getgid(), Session: ep.Session}}
}

// Start defines the domain from spec and boots it: under KVM when the host
// has a KVM this user can use and it has not failed here before, else under
// emulation. A KVM that fails (QEMU does not start, or the guest pauses or
// stays silent) is remembered for this host boot and the machine is booted
// again under emulation, saying why.
func (b *Backend) Start(ctx context.Context, spec vmhost.Spec) error {
	if st, err := b.State(ctx, spec.Name); err != nil {
		return err
	} else if st == vmhost.Running || st == vmhost.Paused || st == vmhost.Suspended {
		return fmt.Errorf("start vm %q: it is already %s", spec.Name, st)
	}
	acc, err := b.kvm.decide()
	if err != nil {
		return err
	}
	if acc.Note != "" {
		b.log.Warn(acc.Note)
		spec.Tell(acc.Note)
	}
	o := b.opts
	o.KVM = acc.KVM
	o.FreePageReporting = b.freePageReporting()
	if !o.KVM {
		return b.boot(ctx, b.emulated(spec), o)
	}
	why, err := b.probe.run(ctx)
	if err != nil {
		b.log.Warn("KVM not probed; the boot finds out", "err", err)
	}
	if why == "" {
		if err := b.boot(ctx, spec, o); err != nil {
			why = "QEMU did not start: " + firstNonEmpty(qemuErrors(tail(b.ep.qemuLog(spec.Name), 16<<10)), err.Error())
		} else if why = b.kvmLife(ctx, spec); why == "" {
			return nil
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := b.Kill(ctx, spec.Name); err != nil {
		return err
	}
	msg := "KVM does not work on this host (" + why + "): booting again with the CPU emulated, which is slow"
	b.log.Warn(msg)
	spec.Tell(msg)
	if err := b.kvm.Verdicts.record(b.kvm.Boot, why); err != nil {
		b.log.Warn("could not remember that KVM does not work here", "err", err)
	}
	o.KVM = false
	return b.boot(ctx, b.emulated(spec), o)
}

// freePageReporting says whether this host's libvirt and QEMU can have
// the guest report its free memory, which QEMU then gives back.
func (b *Backend) freePageReporting() bool {
	lib, err := b.rpc.ConnectGetLibVersion()
	if err != nil {
		b.log.Warn("could not ask libvirt for its version; memory the guest frees stays with the VM", "err", err)
		return false
	}
	qemu, err := b.rpc.ConnectGetVersion()
	if err != nil {
		b.log.Warn("could not ask libvirt for QEMU's version; memory the guest frees stays with the VM", "err", err)
		return false
	}
	return canReportFreePages(lib, qemu)
}

// emulated is spec as it boots under emulation: on a QEMU whose
// multi-threaded emulation is unsafe, with one vCPU.
func (b *Backend) emulated(spec vmhost.Spec) vmhost.Spec {
	v, err := b.rpc.ConnectGetVersion()
	if err != nil {
		b.log.Warn("could not ask libvirt for QEMU's version", "err", err)
	}
	var note string
	if spec.CPUs, note = emulatedCPUs(spec.CPUs, v); note != "" {
		b.log.Warn(note)
		spec.Tell(note)
	}
	return spec
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// kvmLife watches a guest just booted under KVM until it shows a sign of
// life (its first console output) and says what went wrong if it does not:
// QEMU paused or stopped it (KVM internal errors pause the VM), or it stayed
// silent for kvmLifeBound.
func (b *Backend) kvmLife(ctx context.Context, spec vmhost.Spec) string {
	deadline := time.Now().Add(b.lifeBound)
	log := b.ep.qemuLog(spec.Name)
	for {
		if fi, err := os.Stat(spec.SerialLog); err == nil && fi.Size() > 0 {
			return ""
		}
		st, reason, err := b.stateReason(spec.Name)
		qemu := qemuErrors(tail(log, 16<<10))
		switch {
		case err != nil:
			return err.Error()
		case st == vmhost.Paused || st == vmhost.Crashed || st == vmhost.Stopped || st == vmhost.NotFound:
			return firstNonEmpty(qemu, "QEMU "+reason)
		case strings.Contains(qemu, "KVM internal error"):
			return qemu
		case time.Now().After(deadline):
			return fmt.Sprintf("the guest printed nothing in %v", b.lifeBound)
		}
		select {
		case <-ctx.Done():
			return ctx.Err().Error()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// boot defines and starts the domain with o, with its virtiofsd daemons.
func (b *Backend) boot(ctx context.Context, spec vmhost.Spec, o DomainOptions) error {
	x, err := DomainXML(spec, o)
	if err != nil {
		return err
	}
	// A new definition replaces the old one; libvirt refuses a redefinition
	// under a new UUID, so the old one goes first.
	if old, err := b.rpc.DomainLookupByName(spec.Name); err == nil {
		if err := b.rpc.DomainUndefineFlags(old, 0); err != nil {
			return fmt.Errorf("replace vm %q: %w", spec.Name, err)
		}
	} else if !golibvirt.IsNotFound(err) {
		return fmt.Errorf("define vm %q: %w", spec.Name, err)
	}
	dom, err := b.rpc.DomainDefineXML(x)
	if err != nil {
		return fmt.Errorf("define vm %q: %w", spec.Name, err)
	}
	fsd := b.daemons(spec.Name)
	if o.ShareFS == "virtiofs" && len(spec.Shares) > 0 {
		if err := fsd.start(b.vfs, o.ShareDir, spec.Shares, b.log); err != nil {
			return err
		}
	}
	if err := b.create(dom, fsd); err != nil {
		if exited, _ := fsd.states(); len(exited) > 0 {
			err = fmt.Errorf("%w (%s)", err, strings.Join(exited, "; "))
		}
		fsd.stop()
		return fmt.Errorf("start vm %q: %w", spec.Name, err)
	}
	return nil
}

// create starts the defined domain. QEMU waits, with no bound, for each
// vhost-user device's daemon to answer its handshake before it runs, so a
// virtiofsd that took its socket and never answers would hold the start
// for ever: past createBound the virtiofsds go, which fails QEMU's
// handshake and the start with it, and the error says so.
func (b *Backend) create(dom golibvirt.Domain, fsd *fsDaemons) error {
	done := make(chan error, 1)
	go func() { done <- b.rpc.DomainCreate(dom) }()
	select {
	case err := <-done:
		return err
	case <-time.After(b.createBound):
	}
	_, waiting := fsd.states()
	fsd.stop()
	select {
	case err := <-done:
		if len(waiting) == 0 {
			return err
		}
		return fmt.Errorf("QEMU waited %v for virtiofsd to answer for %s, and it never did (ended): %w",
			b.createBound, strings.Join(waiting, ", "), err)
	case <-time.After(b.createBound):
		return fmt.Errorf("libvirt did not start the VM within %v: see QEMU's log, %s, and libvirtd's", 2*b.createBound, b.ep.qemuLog(dom.Name))
	}
}

func (b *Backend) daemons(name string) *fsDaemons {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.fsd[name]
	if d == nil {
		d = &fsDaemons{}
		b.fsd[name] = d
	}
	return d
}

// Kill destroys the running domain (the guest gets no say).
func (b *Backend) Kill(ctx context.Context, name string) error {
	defer b.daemons(name).stop()
	dom, err := b.rpc.DomainLookupByName(name)
	if golibvirt.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("kill vm %q: %w", name, err)
	}
	if err := b.rpc.DomainDestroy(dom); err != nil && !strings.Contains(err.Error(), "not running") {
		return fmt.Errorf("kill vm %q: %w", name, err)
	}
	return nil
}

// State asks libvirtd for the domain's state.
func (b *Backend) State(ctx context.Context, name string) (vmhost.State, error) {
	st, _, err := b.stateReason(name)
	return st, err
}

// stateReason is the state with libvirt's reason for it, in words.
func (b *Backend) stateReason(name string) (vmhost.State, string, error) {
	dom, err := b.rpc.DomainLookupByName(name)
	if golibvirt.IsNotFound(err) {
		return vmhost.NotFound, "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("state of vm %q: %w", name, err)
	}
	st, reason, err := b.rpc.DomainGetState(dom, 0)
	if err != nil {
		return "", "", fmt.Errorf("state of vm %q: %w", name, err)
	}
	return stateOf(golibvirt.DomainState(st), reason), reasonOf(golibvirt.DomainState(st), reason), nil
}

// PausedOnIOError says whether QEMU paused the machine on a disk write
// error, as it does when the host's disk is full (the data disk's
// error_policy).
func (b *Backend) PausedOnIOError(ctx context.Context, name string) (bool, error) {
	dom, err := b.rpc.DomainLookupByName(name)
	if err != nil {
		return false, fmt.Errorf("state of vm %q: %w", name, err)
	}
	st, reason, err := b.rpc.DomainGetState(dom, 0)
	if err != nil {
		return false, fmt.Errorf("state of vm %q: %w", name, err)
	}
	return golibvirt.DomainState(st) == golibvirt.DomainPaused && golibvirt.DomainPausedReason(reason) == golibvirt.DomainPausedIoerror, nil
}

// Resume lets a paused machine run again; QEMU retries the writes that
// failed.
func (b *Backend) Resume(ctx context.Context, name string) error {
	dom, err := b.rpc.DomainLookupByName(name)
	if err != nil {
		return fmt.Errorf("resume vm %q: %w", name, err)
	}
	if err := b.rpc.DomainResume(dom); err != nil {
		return fmt.Errorf("resume vm %q: %w", name, err)
	}
	return nil
}

// Diagnose says why the machine is in its state, from libvirt's reason and
// QEMU's own log, for the daemon to show when a VM pauses or stops by
// itself.
func (b *Backend) Diagnose(ctx context.Context, name string) string {
	st, reason, err := b.stateReason(name)
	if err != nil {
		return err.Error()
	}
	msg := fmt.Sprintf("libvirt says %s (%s)", st, reason)
	if q := qemuErrors(tail(b.ep.qemuLog(name), 16<<10)); q != "" {
		msg += "; QEMU: " + q
	}
	return msg + "; QEMU's log: " + b.ep.qemuLog(name)
}

// Watch streams the domain's state from libvirt's lifecycle events.
func (b *Backend) Watch(ctx context.Context, name string) (<-chan vmhost.State, error) {
	events, err := b.rpc.LifecycleEvents(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch vm %q: %w", name, err)
	}
	out := make(chan vmhost.State, 8)
	go func() {
		defer close(out)
		for e := range events {
			if e.Dom.Name != name {
				continue
			}
			if st, ok := eventState(golibvirt.DomainEventType(e.Event)); ok {
				// The event's detail is the same for a user's suspend and
				// a KVM failure; the domain's state reason tells them apart.
				if st == vmhost.Paused {
					if now, _, err := b.stateReason(name); err == nil && now == vmhost.Suspended {
						st = vmhost.Suspended
					}
				}
				select {
				case out <- st:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// Delete destroys the domain if it runs and removes its definition.
func (b *Backend) Delete(ctx context.Context, name string) error {
	if err := b.Kill(ctx, name); err != nil {
		return err
	}
	dom, err := b.rpc.DomainLookupByName(name)
	if golibvirt.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete vm %q: %w", name, err)
	}
	if err := b.rpc.DomainUndefineFlags(dom, 0); err != nil && !golibvirt.IsNotFound(err) {
		return fmt.Errorf("delete vm %q: %w", name, err)
	}
	return nil
}

// GuestFacts says that QEMU gives the guest a 16550 console and virtio-blk disks
// by serial, and exports shares by tag (virtiofs or 9P).
// QEMU's stream netdev frames up to 69,632 bytes and virtio-net takes the
// MTU the guest sets without a device limit: the link carries 65,520-byte
// packets, the most guestd accepts.
func (b *Backend) GuestFacts() vmhost.GuestFacts {
	return vmhost.GuestFacts{Console: protocol.ConsoleUART, LinkMTU: 65520}
}

// Close disconnects from libvirtd. Running machines keep running (the
// daemon stops them first); their virtiofsd daemons end with them.
func (b *Backend) Close() error {
	if err := b.rpc.Disconnect(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
