//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthvm/berth/guestd/api"
	"github.com/berthvm/berth/guestd/datadisk"
	"github.com/berthvm/berth/guestd/diskwatch"
	"github.com/berthvm/berth/guestd/engine"
	"github.com/berthvm/berth/guestd/firewall"
	"github.com/berthvm/berth/guestd/fsnotice"
	"github.com/berthvm/berth/guestd/kmod"
	"github.com/berthvm/berth/guestd/loglink"
	"github.com/berthvm/berth/guestd/mounts"
	"github.com/berthvm/berth/guestd/netconf"
	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/guestd/reaper"
	"github.com/berthvm/berth/guestd/reclaim"
	"github.com/berthvm/berth/guestd/rootfs"
	"github.com/berthvm/berth/guestd/rosetta"
	"github.com/berthvm/berth/guestd/shares"
	"github.com/berthvm/berth/guestd/stats"
	"github.com/berthvm/berth/guestd/supervise"
	"github.com/berthvm/berth/guestd/tapbridge"
	"github.com/berthvm/berth/guestd/tunnel"
	"github.com/berthvm/berth/guestd/vsock"
)

// Guest-side locations.
const (
	dataMount   = "/mnt/data"
	imagesDir   = "/usr/share/berth/images"
	stateDir    = "/var/lib/berth"
	engineGrace = 30 * time.Second
)

// hostname is the guest's name, as containers with the host's network see it.
const hostname = "berth"

// dataDirs live on the data disk, bound to where their programs expect them.
var dataDirs = map[string]string{
	"docker":     "/var/lib/docker",
	"containerd": "/var/lib/containerd",
	"berth":      stateDir,
}

// Modules loaded at boot, before the engine asks the kernel to autoload what
// else it needs (kmod's modprobe is in the image for that). Loading them up
// front turns a missing module into a clear boot message.
var netModules = []string{"virtio_net", "nf_tables"} // the NIC and the firewall

// vsockNICModules make eth0 a tap device bridged over vsock to the host
// (berth.vsock_nic) over Hyper-V sockets. Only one guest-to-host vsock
// transport can register: virtio's must not load first.
var vsockNICModules = []string{"tun", "hv_sock", "nf_tables"}

// hypervModules are the VMBus drivers a Hyper-V guest needs beyond its
// disks' (hv_storvsc, in the initrd): Hyper-V sockets, and the integration
// services (hv_utils: time sync, heartbeat, shutdown), and Dynamic
// Memory's balloon (hv_balloon: without it the host can neither take
// memory back nor add it). Without udev nothing loads a VMBus driver by
// its device's alias, so they are loaded by name. The guest has no
// Hyper-V NIC, display or keyboard.
var hypervModules = []string{"hv_sock", "hv_utils", "hv_balloon"}

// poweroffArg makes guestd, run as the kernel's poweroff_cmd, ask init
// (guestd) to shut down cleanly.
const poweroffArg = "poweroff"

var engineModules = []string{
	"virtio_console", "virtio_balloon", "virtio_rng",
	"overlay", "bridge", "br_netfilter", "veth",
	"nft_compat", "nft_chain_nat", "nf_nat", "nf_conntrack",
	"xt_conntrack", "xt_MASQUERADE", "xt_addrtype", "ip_tables", "iptable_nat", "iptable_filter",
}

type guest struct {
	log     *slog.Logger
	console io.Writer
	logLink *loglink.Link // the log to the host over vsock, on Hyper-V
	cfg     protocol.Options
	reaper  *reaper.Reaper
	engine  *engine.Client

	mu       sync.Mutex
	state    protocol.State
	err      string
	problems []string
	boot     []protocol.Step
	versions protocol.Versions
	disk     *protocol.DataDiskReport
	dataDev  string // the data disk, /dev/vdb
	disks    *diskwatch.Watcher
	// ownWrites tells the shares' writes made in the guest (fsNotices);
	// nil until the shares are mounted.
	ownWrites atomic.Pointer[fsnotice.OwnWrites]
	services  []*supervise.Supervisor

	engineCtx  context.Context
	stopEngine context.CancelFunc
	engineDone chan struct{}
	// trim trims the data disk once the engine runs.
	trim *reclaim.Trim

	shutdownOnce sync.Once
	shutdown     chan bool // reboot?
}

func newGuest(log *slog.Logger, console io.Writer, logLink *loglink.Link) *guest {
	return &guest{
		log: log, console: console, logLink: logLink,
		reaper:   reaper.New(log),
		engine:   engine.NewClient(engine.DockerSocket),
		state:    protocol.Booting,
		versions: protocol.Versions{Guestd: buildVersion(), Kernel: kernelRelease()},
		shutdown: make(chan bool, 1),
	}
}

func (g *guest) step(name string) {
	at := uptime()
	g.mu.Lock()
	g.boot = append(g.boot, protocol.Step{Name: name, At: at})
	g.mu.Unlock()
	g.log.Info("boot step", "step", name, "uptime", fmt.Sprintf("%.2fs", at))
}

func (g *guest) problem(err error) {
	g.log.Error("boot problem", "err", err)
	g.mu.Lock()
	g.problems = append(g.problems, err.Error())
	g.mu.Unlock()
}

// fail puts the guest in the error state; the API stays up to say why.
func (g *guest) fail(err error) {
	g.log.Error("boot failed", "err", err)
	fmt.Fprintf(g.console, "\nberth: boot failed: %v\n", err)
	g.mu.Lock()
	g.state, g.err = protocol.Failed, err.Error()
	g.mu.Unlock()
}

func (g *guest) setState(s protocol.State) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != protocol.Failed || s == protocol.ShuttingDown {
		g.state = s
	}
}

func (g *guest) health() protocol.Health {
	g.mu.Lock()
	defer g.mu.Unlock()
	h := protocol.Health{
		State: g.state, Error: g.err, Problems: append([]string(nil), g.problems...),
		Uptime: uptime(), Boot: append([]protocol.Step(nil), g.boot...), Versions: g.versions, DataDisk: g.disk,
		DiskStall: g.diskStall(),
	}
	for _, s := range g.services {
		h.Services = append(h.Services, s.Status())
	}
	return h
}

func (g *guest) run() {
	ctx := context.Background()
	g.step("init")
	if err := mounts.Apply(mounts.Early()); err != nil {
		fatal(g.log, g.console, err)
	}
	go g.reaper.Reap(ctx)
	signals := make(chan os.Signal, 1)
	// SIGTERM and SIGPWR are how a hypervisor or `kill 1` ask init to stop.
	signal.Notify(signals, unix.SIGTERM, unix.SIGPWR, unix.SIGINT)
	go func() {
		<-signals
		g.requestShutdown(false)
	}()
	// Ctrl-Alt-Del (and some hypervisors' reset) becomes SIGINT to init.
	unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF) //nolint:errcheck // best effort: without it Ctrl-Alt-Del reboots at once, as before
	// A hypervisor's shutdown request (Hyper-V's shutdown service in
	// hv_utils) runs the kernel's poweroff_cmd, /sbin/poweroff, which this
	// image lacks: the kernel would then cut the power without stopping
	// the engine. guestd itself asks init to stop instead.
	if err := os.WriteFile("/proc/sys/kernel/poweroff_cmd", []byte("/usr/sbin/guestd "+poweroffArg), 0); err != nil {
		g.problem(fmt.Errorf("hypervisor shutdown requests: %w", err))
	}

	cfg, err := g.config(ctx)
	var lost *hostOptionsError
	if errors.As(err, &lost) {
		fatal(g.log, g.console, err)
	}
	if err != nil {
		g.problem(fmt.Errorf("%w; using defaults", err))
		cfg = protocol.DefaultOptions()
	}
	g.cfg = cfg
	g.clockFromHost(cfg.HostTime)
	if cfg.LogLevel == "debug" {
		g.log = slog.New(slog.NewTextHandler(g.console, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if cfg.DebugShell {
		go shellLoop(g.log, g.reaper)
	}

	// The NIC's driver first: the network is what the host waits on. The
	// engine's modules load while the data disk is checked.
	nicModules := netModules
	if cfg.VsockNIC != 0 {
		nicModules = vsockNICModules
	}
	modules := g.loadModules(nicModules)
	<-modules
	modules = g.loadModules(engineModules)

	if err := g.network(ctx); err != nil {
		// Without the network the host cannot reach us at all; the console
		// is the only witness.
		fatal(g.log, g.console, err)
	}
	g.step("network")
	go g.serveAPI()
	g.watchDisks(ctx)

	if err := g.dataDisk(ctx); err != nil {
		g.fail(err)
	} else {
		g.step("data-disk")
		g.mountShares(ctx)
		g.enableRosetta()
		if err := g.startEngine(ctx, modules); err != nil {
			g.fail(err)
		} else {
			g.giveBack(ctx)
		}
	}
	g.poweroff(<-g.shutdown)
}

// config reads the options (readConfig): on Hyper-V it first brings up
// the log link (berth.vsock_log) and then asks the host on the vsock port
// the boot disk's command line names.
func (g *guest) config(ctx context.Context) (protocol.Options, error) {
	return readConfig(ctx, readCmdline(), func(ctx context.Context, cfg protocol.Options) (string, error) {
		<-g.loadModules(hypervModules)
		if cfg.VsockLog != 0 {
			go g.logLink.Run(ctx, func() (io.WriteCloser, error) { return vsock.Dial(vsock.Host, cfg.VsockLog) }, time.Second)
		}
		f, err := vsock.DialRetry(ctx, vsock.Host, cfg.VsockOptions, 30*time.Second)
		if err != nil {
			return "", err
		}
		defer f.Close()
		f.SetReadDeadline(time.Now().Add(10 * time.Second))
		opts, err := io.ReadAll(io.LimitReader(f, 64<<10))
		return string(opts), err
	})
}

// enableRosetta registers Apple's Rosetta for x86-64 programs where the
// host shares it; without it amd64 containers still run where the CPU
// does, so a failure is a problem, not a failure.
func (g *guest) enableRosetta() {
	if g.cfg.Rosetta == "" {
		return
	}
	idx, err := kmod.Open("/lib/modules/" + kernelRelease())
	if err == nil {
		err = rosetta.NewEnabler(func(m string) error { return idx.Load(m) }).Enable(g.cfg.Rosetta)
	}
	if err != nil {
		g.problem(err)
		return
	}
	g.step("rosetta")
}

// loadModules loads modules in the background; the channel closes when done.
// A module that fails is a problem, not a failure: the kernel may still
// autoload it, or the feature it backs may go unused.
func (g *guest) loadModules(names []string) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		idx, err := kmod.Open("/lib/modules/" + kernelRelease())
		if err != nil {
			g.problem(err)
			return
		}
		for _, m := range names {
			if err := idx.Load(m); err != nil {
				g.problem(err)
			}
		}
		g.step("modules-" + names[0])
	}()
	return done
}

// mountShares mounts the host's shared folders before the engine starts, so
// that containers restarted with the engine find their bind mounts. A share
// that fails is a problem, not a failure: the engine is still useful.
func (g *guest) mountShares(ctx context.Context) {
	if len(g.cfg.Shares) == 0 {
		return
	}
	idx, err := kmod.Open("/lib/modules/" + kernelRelease())
	if err != nil {
		g.problem(err)
		return
	}
	m := shares.NewMounter(func(name string) error { return idx.Load(name) }, g.log)
	var writable []string
	for _, s := range g.cfg.Shares {
		fs, err := m.Mount(s)
		if err != nil {
			g.problem(err)
			continue
		}
		g.log.Info("shared folder mounted", "path", s.Path, "fs", fs, "read_only", s.ReadOnly)
		if !s.ReadOnly {
			writable = append(writable, s.Path)
		}
	}
	if len(writable) > 0 {
		// The host sends the guest's own writes back as changes: they are
		// told apart so that they are not raised twice.
		if w, err := fsnotice.WatchOwnWrites(writable, g.log); err != nil {
			g.log.Warn("the guest's own writes to shared folders will be raised twice in it", "err", err)
		} else {
			g.ownWrites.Store(w)
			go w.Run(ctx)
		}
	}
	g.step("shares")
	go m.Keep(ctx, g.cfg.Shares, 5*time.Second)
}

func (g *guest) network(ctx context.Context) error {
	if g.cfg.VsockNIC != 0 {
		tap, err := tapbridge.OpenTap("eth0")
		if err != nil {
			return err
		}
		dial := func() (io.ReadWriteCloser, error) {
			return vsock.Dial(vsock.Host, g.cfg.VsockNIC)
		}
		go tapbridge.Serve(ctx, tap, dial, g.log)
	}
	// A plain FIFO on eth0 (set before it comes up), not the kernel's
	// fq_codel: CoDel drops packets queued longer than 5 ms, and the host
	// end of this link (QEMU, then the daemon's user-mode stack) is often
	// scheduled out for longer on an emulated, busy machine; every drop
	// halves a container's TCP window in a transfer to the host.
	if err := os.WriteFile("/proc/sys/net/core/default_qdisc", []byte("pfifo_fast"), 0o644); err != nil {
		g.log.Warn("eth0 keeps the kernel's default queueing", "err", err)
	}
	if err := netconf.Up(netconf.Interface{Name: "eth0", Address: g.cfg.Address, Gateway: g.cfg.Gateway, MTU: g.cfg.MTU}, 10*time.Second); err != nil {
		return err
	}
	if err := netconf.Identity("/", hostname, g.cfg.DNS); err != nil {
		return err
	}
	pol := firewall.Policy{Interface: "eth0", Peer: g.cfg.Gateway, Ports: []uint16{protocol.EnginePort, protocol.APIPort}}
	if err := pol.Apply(-1); err != nil {
		// Refuse to expose the engine without the guard.
		return fmt.Errorf("guard the engine and guest API ports: %w", err)
	}
	return nil
}

// fsNotices raises the host's changes in the shared folders for watchers
// in the guest.
func (g *guest) fsNotices() *fsnotice.Applier {
	a := &fsnotice.Applier{Log: g.log.With("part", "fsnotice"), Own: func(ino uint64) bool {
		w := g.ownWrites.Load()
		return w != nil && w.Own(ino)
	}}
	for _, s := range g.cfg.Shares {
		a.Roots = append(a.Roots, s.Path)
	}
	return a
}

func (g *guest) serveAPI() {
	addr := net.JoinHostPort(g.cfg.Address.Addr().String(), strconv.Itoa(protocol.APIPort))
	srv := &http.Server{
		Addr: addr,
		Handler: api.Server{
			Health: g.health,
			Stats: func() (protocol.Stats, error) {
				return stats.Reader{Proc: "/proc", DataDisk: dataMount, Interval: 200 * time.Millisecond}.Read()
			},
			DiskUse:   g.diskUse,
			Trim:      g.trimNow,
			Shutdown:  g.requestShutdown,
			StepClock: g.stepClock,
			Shell:     g.serveShell,
			Dial:      tunnel.Handler(g.log),
			FSEvents:  g.fsNotices().Apply,
		}.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	g.log.Info("guest API listening", "addr", addr)
	if err := srv.ListenAndServe(); err != nil {
		g.fail(fmt.Errorf("guest API: %w", err))
	}
}

func (g *guest) dataDisk(ctx context.Context) error {
	dev, err := rootfs.FindDisk("/sys/block", g.cfg.DataDisk, 10*time.Second)
	if err != nil {
		return fmt.Errorf("data disk: %w", err)
	}
	g.mu.Lock()
	g.dataDev = dev
	g.mu.Unlock()
	d := datadisk.Disk{
		Device: dev, MountPoint: dataMount, Label: "berth-data", Run: g.reaper, Log: g.log,
		Mount: func(dev, target string) error {
			return unix.Mount(dev, target, "ext4", unix.MS_NOATIME, "")
		},
	}
	rep, err := d.Prepare(ctx)
	g.mu.Lock()
	g.disk = &rep
	g.mu.Unlock()
	if err != nil {
		return err
	}
	for dir, target := range dataDirs {
		if err := mounts.Bind(dataMount+"/"+dir, target); err != nil {
			return fmt.Errorf("data disk: %w", err)
		}
	}
	return nil
}

// startEngine starts containerd and, once the engine's kernel modules are
// loaded, dockerd; dockerd waits for containerd's socket by itself, so the
// two start side by side. It returns when dockerd is ready.
func (g *guest) startEngine(ctx context.Context, modules <-chan struct{}) error {
	containerd := supervise.New(supervise.Service{
		Name:    "containerd",
		Command: engine.ContainerdCommand,
		Ready: func(ctx context.Context) error {
			return waitFor(ctx, func() bool {
				c, err := net.Dial("unix", engine.ContainerdSocket)
				if err == nil {
					c.Close()
				}
				return err == nil
			})
		},
		Output: g.console,
	}, g.reaper, g.log)
	tcp := net.JoinHostPort(g.cfg.Address.Addr().String(), strconv.Itoa(protocol.EnginePort))
	dockerd := supervise.New(supervise.Service{
		Name: "dockerd",
		Command: func() *exec.Cmd {
			g.refreshTrust()
			cmd := engine.DockerdCommand(tcp, g.cfg.HostGateway, g.cfg.MTU, g.cfg.ContainerLogMiB, g.cfg.ContainerLogFiles)
			if env := engine.ProxyEnv(g.cfg.Gateway, g.cfg.ProxyPort, g.cfg.Address.Masked()); env != nil {
				cmd.Env = append(os.Environ(), env...)
			}
			return cmd
		},
		Ready:  g.engine.WaitReady,
		Output: g.console,
		OnExit: g.engineExited,
	}, g.reaper, g.log)
	g.mu.Lock()
	g.services = []*supervise.Supervisor{containerd, dockerd}
	g.mu.Unlock()

	g.engineCtx, g.stopEngine = context.WithCancel(ctx)
	g.engineDone = make(chan struct{})
	containerdCtx, stopContainerd := context.WithCancel(ctx)
	go func() {
		defer close(g.engineDone)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); containerd.Run(containerdCtx, 10*time.Second) }()
		go func() {
			defer wg.Done()
			select {
			case <-containerd.Ready():
				g.step("containerd-ready")
			case <-containerdCtx.Done():
			}
		}()
		select {
		case <-modules:
			dockerd.Run(g.engineCtx, engineGrace)
		case <-g.engineCtx.Done():
		}
		// dockerd is down: only now may containerd go.
		stopContainerd()
		wg.Wait()
	}()

	select {
	case <-dockerd.Ready():
	case <-g.engineCtx.Done():
		return nil
	}
	g.step("engine-ready")
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if v, err := g.engine.Version(vctx); err == nil {
		g.mu.Lock()
		g.versions.Docker, g.versions.DockerAPI = v.Version, v.APIVersion
		for _, c := range v.Components {
			if strings.EqualFold(c.Name, "containerd") {
				g.versions.Containerd = c.Version
			}
		}
		g.mu.Unlock()
	}
	cancel()
	loaded, err := g.engine.Preload(ctx, imagesDir, stateDir)
	if err != nil {
		g.problem(err)
	} else if len(loaded) > 0 {
		g.log.Info("preloaded images", "archives", loaded)
	}
	g.setState(protocol.Ready)
	g.step("ready")
	return nil
}

// engineFailures is how often dockerd may exit before its first readiness
// before the boot counts as failed (it keeps being restarted regardless).
const engineFailures = 3

func (g *guest) engineExited(st protocol.ServiceStatus) {
	g.mu.Lock()
	booting := g.state == protocol.Booting
	g.mu.Unlock()
	if booting && st.Restarts >= engineFailures {
		last := ""
		if n := len(st.Tail); n > 0 {
			last = "; its last output: " + strings.Join(st.Tail[max(0, n-5):], " | ")
		}
		g.fail(fmt.Errorf("dockerd exited %d times without becoming ready (last: %s)%s", st.Restarts, st.LastError, last))
	}
}

func waitFor(ctx context.Context, ok func() bool) error {
	for !ok() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

func (g *guest) requestShutdown(reboot bool) {
	g.shutdownOnce.Do(func() { g.shutdown <- reboot })
}

// poweroff stops the engine (which stops the containers), then every other
// process, flushes and unmounts the data disk, and powers off (or reboots).
func (g *guest) poweroff(reboot bool) {
	g.setState(protocol.ShuttingDown)
	g.log.Info("shutting down", "reboot", reboot)
	if g.stopEngine != nil {
		// dockerd stops the containers itself on SIGTERM, each with its own
		// stop timeout. Stopping them through the API first would mark them
		// stopped by the user, and `--restart unless-stopped` containers
		// would not come back at the next start.
		g.stopEngine()
		<-g.engineDone
	}
	killAll()
	unix.Sync()
	g.trimAtShutdown()
	unmountData(g.log)
	unix.Sync()
	cmd := unix.LINUX_REBOOT_CMD_POWER_OFF
	if reboot {
		cmd = unix.LINUX_REBOOT_CMD_RESTART
	}
	g.log.Info("goodbye")
	if err := unix.Reboot(cmd); err != nil {
		g.log.Error("power off", "err", err)
	}
	select {}
}

// killAll ends the processes that are left (shims, shells): TERM, a moment,
// then KILL. kill(-1) spares init itself.
func killAll() {
	unix.Kill(-1, unix.SIGTERM)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if err := unix.Kill(-1, 0); errors.Is(err, unix.ESRCH) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	unix.Kill(-1, unix.SIGKILL)
}

// unmountData unmounts everything on the data disk, innermost first; if the
// disk is still busy it is at least remounted read-only, which leaves the
// filesystem clean.
func unmountData(log *slog.Logger) {
	points, err := mounts.MountPoints()
	if err != nil {
		log.Error("read mounts", "err", err)
	}
	var under []string
	for p := range points {
		for _, t := range dataDirs {
			if p == t || strings.HasPrefix(p, t+"/") {
				under = append(under, p)
			}
		}
	}
	// Longest paths are innermost.
	sort.Slice(under, func(i, j int) bool { return len(under[i]) > len(under[j]) })
	for _, p := range under {
		if err := unix.Unmount(p, 0); err != nil {
			log.Warn("unmount", "path", p, "err", err)
		}
	}
	if err := unix.Unmount(dataMount, 0); err != nil {
		log.Warn("unmount data disk; remounting read-only", "err", err)
		if err := unix.Mount("", dataMount, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			log.Error("remount data disk read-only", "err", err)
		}
	}
}
