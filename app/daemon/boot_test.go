package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/app/settings"
	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/vmhost"
)

// fakeGuest is guestd's API without a VM, on a unix socket that the daemon
// dials in place of the guest's eth0. A shutdown powers the backend's VM
// off, as guestd does.
type fakeGuest struct {
	sock string
	vm   *bootOnlyBackend

	mu        sync.Mutex
	state     protocol.State
	shutdowns int
	stall     *protocol.DiskStall // reported in the health
	stats     protocol.Stats      // the answer to StatsPath
	// engine, when set, is the socket of the engine port.
	engine string
}

func startFakeGuest(t *testing.T, vm *bootOnlyBackend, state protocol.State) *fakeGuest {
	t.Helper()
	g := &fakeGuest{sock: filepath.Join(t.TempDir(), "guest.sock"), vm: vm, state: state}
	l, err := net.Listen("unix", g.sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+protocol.HealthPath, func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		h := protocol.Health{State: g.state, Boot: []protocol.Step{{Name: "engine", At: 1}}, DiskStall: g.stall}
		g.mu.Unlock()
		protocol.WriteJSON(w, http.StatusOK, h)
	})
	mux.HandleFunc("GET "+protocol.StatsPath, func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		st := g.stats
		g.mu.Unlock()
		protocol.WriteJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("POST "+protocol.ShutdownPath, func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.shutdowns++
		g.state = protocol.ShuttingDown
		g.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		go g.vm.set(vmhost.Stopped)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return g
}

// dial reaches the fake guest API; the fake guest has no engine.
func (g *fakeGuest) dial(ctx context.Context, port int) (net.Conn, error) {
	g.mu.Lock()
	engine := g.engine
	g.mu.Unlock()
	if port == protocol.EnginePort && engine != "" {
		var d net.Dialer
		return d.DialContext(ctx, "unix", engine)
	}
	if port != protocol.APIPort {
		return nil, fmt.Errorf("the fake guest has nothing on port %d", port)
	}
	var d net.Dialer
	return d.DialContext(ctx, "unix", g.sock)
}

func (g *fakeGuest) shutdownCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.shutdowns
}

// recordingBackend remembers the spec it booted, or fails to boot.
type recordingBackend struct {
	bootOnlyBackend
	startErr error

	mu    sync.Mutex
	spec  vmhost.Spec
	kills int
}

func (b *recordingBackend) Start(ctx context.Context, spec vmhost.Spec) error {
	b.mu.Lock()
	b.spec = spec
	b.mu.Unlock()
	if b.startErr != nil {
		return b.startErr
	}
	return b.bootOnlyBackend.Start(ctx, spec)
}

func (b *recordingBackend) Kill(ctx context.Context, name string) error {
	b.mu.Lock()
	b.kills++
	b.mu.Unlock()
	return b.bootOnlyBackend.Kill(ctx, name)
}

func (b *recordingBackend) booted() (vmhost.Spec, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.spec, b.kills
}

// startAndFollow starts the machine and returns the state the start ended
// on; each event goes to seen, if set.
func startAndFollow(t *testing.T, c *control.Client, seen func(control.Event)) control.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	last, err := c.StartFollow(ctx, func(e control.Event) {
		if seen != nil {
			seen(e)
		}
	})
	if err != nil && last.State != control.Error {
		t.Fatalf("start: %v (last event %+v)", err, last)
	}
	return last
}

// assertTornDown checks what teardown must leave: no session, the VM
// killed, the daemon's sockets gone.
func assertTornDown(t *testing.T, d *Daemon, b *recordingBackend) {
	t.Helper()
	d.mu.Lock()
	run := d.run
	d.mu.Unlock()
	if run != nil {
		t.Error("the daemon still holds a session")
	}
	if st, _ := b.State(context.Background(), "x"); st == vmhost.Running {
		t.Error("the VM still runs")
	}
	for _, sock := range []string{d.o.Paths.NetSocket(), d.o.Paths.DockerSocket()} {
		if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is left behind (%v)", sock, err)
		}
	}
}

// A start runs every step: the data disk, the network, the VM booted with
// the composed command line, the guest's readiness, the docker socket and
// the docker context.
func TestStartRunsEachStep(t *testing.T) {
	b := &recordingBackend{}
	d, c := serveDaemon(t, b)
	d.dialGuest = startFakeGuest(t, &b.bootOnlyBackend, protocol.Ready).dial
	s := settings.Default(d.o.Host)
	s.ContainerLogMiB, s.ContainerLogFiles = 50, 7
	if err := settings.Save(d.o.Paths, s); err != nil {
		t.Fatal(err)
	}

	if last := startAndFollow(t, c, nil); last.State != control.Running {
		t.Fatalf("the start ended on %+v", last)
	}
	if fi, err := os.Stat(d.o.Paths.DataDisk()); err != nil || fi.Size() != int64(d.settings.DiskGiB)<<30 {
		t.Errorf("data disk: %v, %v", fi, err)
	}
	spec, _ := b.booted()
	g, err := protocol.ParseOptions(spec.Cmdline)
	if err != nil || !strings.HasPrefix(spec.Cmdline, "console=ttyS0 ") || len(g.Shares) != len(spec.Shares) || len(spec.Shares) == 0 {
		t.Errorf("the VM booted with command line %q (%v) and shares %+v", spec.Cmdline, err, spec.Shares)
	}
	if g.ContainerLogMiB != 50 || g.ContainerLogFiles != 7 {
		t.Errorf("the VM booted with command line %q: container logs %d MiB x %d, want the settings' 50 MiB x 7", spec.Cmdline, g.ContainerLogMiB, g.ContainerLogFiles)
	}
	if spec.Network == nil || spec.NetSocket != d.o.Paths.NetSocket() {
		t.Errorf("the VM has no link to the network: %+v", spec)
	}
	if fi, err := os.Stat(d.o.Paths.DockerSocket()); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("docker socket: %v", err)
	}
	if meta, err := os.ReadFile(filepath.Join(d.o.Contexts.MetaDir(ContextName), "meta.json")); err != nil || !strings.Contains(string(meta), d.o.Paths.DockerSocket()) {
		t.Errorf("docker context: %s, %v", meta, err)
	}
	if st := d.Status(context.Background()); st.State != control.Running || st.Guest == nil || st.Guest.State != protocol.Ready ||
		st.ContainerLogMiB != 50 || st.ContainerLogFiles != 7 {
		t.Errorf("status %+v", st)
	}
}

// A stop goes through the guest (which powers the VM off), then tears the
// session down.
func TestStopShutsTheGuestDown(t *testing.T) {
	b := &recordingBackend{}
	d, c := serveDaemon(t, b)
	g := startFakeGuest(t, &b.bootOnlyBackend, protocol.Ready)
	d.dialGuest = g.dial
	if last := startAndFollow(t, c, nil); last.State != control.Running {
		t.Fatalf("the start ended on %+v", last)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Stop(ctx, false); err != nil {
		t.Fatal(err)
	}
	if n := g.shutdownCount(); n != 1 {
		t.Errorf("the guest was asked to shut down %d times, want 1", n)
	}
	if st, _, _ := d.life.snapshot(); st != control.Stopped {
		t.Errorf("state %s after stop", st)
	}
	assertTornDown(t, d, b)
}

// A VM that dies while the daemon waits for its engine ends the start at
// once, in the error state with the hypervisor's word, and is torn down.
func TestVMDiesWhileBooting(t *testing.T) {
	b := &recordingBackend{}
	d, c := serveDaemon(t, b)
	d.dialGuest = startFakeGuest(t, &b.bootOnlyBackend, protocol.Booting).dial
	var once sync.Once
	last := startAndFollow(t, c, func(e control.Event) {
		if strings.HasPrefix(e.Step, "waiting for the engine (guest:") {
			once.Do(func() { b.set(vmhost.Crashed) })
		}
	})
	if last.State != control.Error || !strings.Contains(last.Reason, "crashed unexpectedly") {
		t.Fatalf("the start ended on %+v, want an error saying the VM crashed", last)
	}
	assertTornDown(t, d, b)
}

// A step that fails tears down what the steps before it brought up and
// reports the failure.
func TestFailedStepTearsDown(t *testing.T) {
	b := &recordingBackend{startErr: errors.New("no hypervisor here")}
	d, c := serveDaemon(t, b)
	d.dialGuest = startFakeGuest(t, &b.bootOnlyBackend, protocol.Ready).dial
	last := startAndFollow(t, c, nil)
	if last.State != control.Error || !strings.Contains(last.Reason, "no hypervisor here") {
		t.Fatalf("the start ended on %+v, want the backend's error", last)
	}
	if _, kills := b.booted(); kills == 0 {
		t.Error("the VM was not killed")
	}
	assertTornDown(t, d, b)
}

// prepareDisk makes the data disk, and refuses an incomplete guest image
// with what to do.
func TestPrepareDisk(t *testing.T) {
	d, _ := serveDaemon(t, &bootOnlyBackend{})
	if err := d.prepareDisk(1); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(d.o.Paths.DataDisk()); err != nil || fi.Size() != 1<<30 {
		t.Fatalf("data disk: %v, %v", fi, err)
	}
	os.Remove(filepath.Join(d.o.GuestDir, "initrd.img"))
	if err := d.prepareDisk(1); err == nil || !strings.Contains(err.Error(), "make guest-image") {
		t.Fatalf("incomplete guest image: %v", err)
	}
}
