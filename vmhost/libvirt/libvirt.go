// Package libvirt is the Linux backend of vmhost: it defines and runs the
// machine as a libvirt domain (QEMU, KVM when it works, else TCG) through
// libvirtd's RPC socket with github.com/digitalocean/go-libvirt.
package libvirt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"

	"github.com/berthvm/berth/vmhost"
)

// rpc is the part of go-libvirt the backend uses; tests fake it.
type rpc interface {
	DomainLookupByName(name string) (golibvirt.Domain, error)
	DomainDefineXML(xml string) (golibvirt.Domain, error)
	DomainCreate(dom golibvirt.Domain) error
	DomainDestroy(dom golibvirt.Domain) error
	DomainGetState(dom golibvirt.Domain, flags uint32) (int32, int32, error)
	DomainUndefineFlags(dom golibvirt.Domain, flags golibvirt.DomainUndefineFlagsValues) error
	LifecycleEvents(ctx context.Context) (<-chan golibvirt.DomainEventLifecycleMsg, error)
	Disconnect() error
}

// Backend runs machines through libvirtd.
type Backend struct {
	rpc  rpc
	log  *slog.Logger
	opts DomainOptions
}

// Socket returns libvirtd's socket and URI for this user: the system daemon
// for root, the per-user session daemon otherwise (QEMU then runs as the
// user, which is what a desktop app wants).
func Socket() (string, golibvirt.ConnectURI) {
	if os.Geteuid() == 0 {
		return "/run/libvirt/libvirt-sock", golibvirt.QEMUSystem
	}
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("libvirt-%d", os.Getuid()))
	}
	return filepath.Join(dir, "libvirt", "libvirt-sock"), golibvirt.QEMUSession
}

// Options are the user's overrides of what the backend would pick.
type Options struct {
	TCG bool // emulate even where /dev/kvm exists
	// ShareFS is "virtiofs", "9p", or "" for virtiofs when a virtiofsd is
	// installed and 9p otherwise.
	ShareFS string
}

// virtiofsdPaths are where distributions install virtiofsd: the Rust one
// (Debian 13, Fedora, Arch) and QEMU's older C one (Debian 12, Ubuntu 22.04).
var virtiofsdPaths = []string{"/usr/libexec/virtiofsd", "/usr/lib/virtiofsd", "/usr/lib/qemu/virtiofsd", "/usr/bin/virtiofsd"}

// findVirtiofsd returns the first executable virtiofsd, or "".
func findVirtiofsd(paths []string) string {
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// virtiofsdFiles is what virtiofsd asks for as its open-files limit: QEMU's C
// virtiofsd holds a descriptor for every host file the guest has cached.
const virtiofsdFiles = 1_000_000

// warnFileLimit says when virtiofsd cannot get the open-files limit it asks
// for: libvirtd's children inherit its hard limit, which in containers is
// often this process's too. Past it, the guest sees "Too many open files".
func warnFileLimit(log *slog.Logger, virtiofsd string) {
	if virtiofsd == "" {
		return
	}
	if hard, ok := hardFileLimit(); ok && hard < virtiofsdFiles {
		log.Warn("virtiofsd can keep at most this many host files open (the hard open-files limit here), so a shared folder tree with more files in use at once fails in the VM with 'Too many open files'; raise LimitNOFILE for libvirtd",
			"limit", hard)
	}
}

// Connect reaches libvirtd.
func Connect(log *slog.Logger, o Options) (*Backend, error) {
	sock, uri := Socket()
	if _, err := os.Stat(sock); err != nil {
		return nil, fmt.Errorf("libvirtd is not running (no socket at %s): install libvirt-daemon and libvirt-daemon-driver-qemu, then start it (`sudo systemctl start libvirtd`, or `libvirtd -d` for your own session); see the README", sock)
	}
	l := golibvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(sock), dialers.WithLocalTimeout(5*time.Second)))
	if err := l.ConnectToURI(uri); err != nil {
		return nil, fmt.Errorf("connect to libvirtd at %s (%s): %w", sock, uri, err)
	}
	b := newBackend(l, log, o.TCG)
	switch o.ShareFS {
	case "9p":
	case "", "virtiofs":
		b.opts.Virtiofsd = findVirtiofsd(virtiofsdPaths)
		warnFileLimit(log, b.opts.Virtiofsd)
		if b.opts.Virtiofsd == "" {
			if o.ShareFS == "virtiofs" {
				l.Disconnect()
				return nil, fmt.Errorf("virtiofs was asked for but no virtiofsd is installed (looked in %v): install the virtiofsd package", virtiofsdPaths)
			}
			log.Info("no virtiofsd installed; shared folders use 9p (install virtiofsd for faster sharing)")
		}
	default:
		l.Disconnect()
		return nil, fmt.Errorf("shared folder filesystem %q: want virtiofs or 9p", o.ShareFS)
	}
	return b, nil
}

func newBackend(r rpc, log *slog.Logger, tcg bool) *Backend {
	arch := "x86_64"
	if runtime.GOARCH == "arm64" {
		arch = "aarch64"
	}
	_, kvmErr := os.Stat("/dev/kvm")
	return &Backend{rpc: r, log: log, opts: DomainOptions{
		KVM: kvmErr == nil && !tcg, Arch: arch, UID: os.Getuid(), GID: os.Getgid(),
	}}
}

// Start defines the domain from spec and boots it. Where /dev/kvm exists but
// QEMU cannot use it (nested or sandboxed hosts), it falls back to TCG.
func (b *Backend) Start(ctx context.Context, spec vmhost.Spec) error {
	if st, err := b.State(ctx, spec.Name); err != nil {
		return err
	} else if st == vmhost.Running || st == vmhost.Paused {
		return fmt.Errorf("start vm %q: it is already %s", spec.Name, st)
	}
	err := b.define(spec, b.opts)
	if err == nil || !b.opts.KVM {
		return err
	}
	b.log.Warn("KVM is present but QEMU cannot use it; falling back to emulation (slow)", "err", err)
	b.opts.KVM = false
	return b.define(spec, b.opts)
}

func (b *Backend) define(spec vmhost.Spec, o DomainOptions) error {
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
	if err := b.rpc.DomainCreate(dom); err != nil {
		return fmt.Errorf("start vm %q: %w", spec.Name, err)
	}
	return nil
}

// Kill destroys the running domain (the guest gets no say).
func (b *Backend) Kill(ctx context.Context, name string) error {
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
	dom, err := b.rpc.DomainLookupByName(name)
	if golibvirt.IsNotFound(err) {
		return vmhost.NotFound, nil
	}
	if err != nil {
		return "", fmt.Errorf("state of vm %q: %w", name, err)
	}
	st, _, err := b.rpc.DomainGetState(dom, 0)
	if err != nil {
		return "", fmt.Errorf("state of vm %q: %w", name, err)
	}
	return stateOf(golibvirt.DomainState(st)), nil
}

func stateOf(s golibvirt.DomainState) vmhost.State {
	switch s {
	case golibvirt.DomainRunning, golibvirt.DomainBlocked, golibvirt.DomainShutdown:
		return vmhost.Running
	case golibvirt.DomainPaused, golibvirt.DomainPmsuspended:
		return vmhost.Paused
	case golibvirt.DomainCrashed:
		return vmhost.Crashed
	default:
		return vmhost.Stopped
	}
}

// eventState maps a lifecycle event to the state it leaves the domain in;
// ok is false for events that change no state (defined, undefined).
func eventState(e golibvirt.DomainEventType) (vmhost.State, bool) {
	switch e {
	case golibvirt.DomainEventStarted, golibvirt.DomainEventResumed:
		return vmhost.Running, true
	case golibvirt.DomainEventSuspended, golibvirt.DomainEventPmsuspended:
		return vmhost.Paused, true
	case golibvirt.DomainEventStopped:
		return vmhost.Stopped, true
	case golibvirt.DomainEventCrashed:
		return vmhost.Crashed, true
	}
	return "", false
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

// Close disconnects from libvirtd.
func (b *Backend) Close() error {
	if err := b.rpc.Disconnect(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

var _ vmhost.Backend = (*Backend)(nil)
