package gui

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"

	"github.com/berthvm/berth/app/autostart"
	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/app/diskuse"
	"github.com/berthvm/berth/app/dockerctx"
	"github.com/berthvm/berth/app/settings"
	"github.com/berthvm/berth/filesharing"
	"github.com/berthvm/berth/guestd/protocol"
)

type fakeLogin struct{ on bool }

func (l *fakeLogin) Enabled() (bool, error)       { return l.on, nil }
func (l *fakeLogin) Enable(autostart.Entry) error { l.on = true; return nil }
func (l *fakeLogin) Disable() error               { l.on = false; return nil }

// newTestUI builds the window on fyne's test driver, with settings in a
// temporary folder and a host with 4 CPUs and 8 GiB.
func newTestUI(t *testing.T, m Machine, e Engine) (*UI, settings.Paths) {
	t.Helper()
	return newTestUIWith(t, m, e, "")
}

// newTestUIWith is newTestUI with the probe file the end-to-end test reads.
func newTestUIWith(t *testing.T, m Machine, e Engine, probe string) (*UI, settings.Paths) {
	t.Helper()
	a := test.NewTempApp(t)
	dir := t.TempDir()
	p := settings.Paths{Config: filepath.Join(dir, "config"), Data: filepath.Join(dir, "data"), Run: filepath.Join(dir, "run")}
	if err := p.Ensure(); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	os.Mkdir(home, 0o700)
	u := New(a, Options{
		Machine:  m,
		Dial:     func(string) (Engine, error) { return e, nil },
		Paths:    p,
		Host:     settings.Host{CPUs: 4, MemoryMiB: 8192, GOOS: "linux", Home: home, Temp: home},
		Login:    &fakeLogin{},
		Contexts: dockerctx.Store{Dir: filepath.Join(dir, "docker")},
		Probe:    probe,
	})
	serialize(u)
	t.Cleanup(u.Stop)
	return u, p
}

// serialize makes the UI's background work take turns with the test:
// fyne's test driver runs fyne.Do at once, on the calling goroutine.
func serialize(u *UI) {
	var mu sync.Mutex
	u.do = func(f func()) {
		mu.Lock()
		defer mu.Unlock()
		f()
	}
}

// run does f as the UI's background work does: in turn.
func run(u *UI, f func()) { u.do(f) }

// eventually polls cond on the main goroutine until it holds.
func eventually(t *testing.T, u *UI, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok := false
		run(u, func() { ok = cond() })
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHeaderForEachState(t *testing.T) {
	u, _ := newTestUI(t, &fakeMachine{}, newFakeEngine())
	running := control.Status{State: control.Running, DockerSocket: "/run/user/1000/berth/docker.sock", Context: "berth",
		Notes: []string{"KVM does not work on this host (QEMU: KVM internal error): booting again with the CPU emulated"},
		Guest: &protocol.Health{Versions: protocol.Versions{Docker: "20.10.24", Kernel: "6.1.0"}, Uptime: 125, Problems: []string{"share /srv: not mounted"}}}
	stalled := running
	stalled.DiskStall = &protocol.DiskStall{Device: "vdb", DataDisk: true, Since: time.Now().Add(-time.Minute), InFlight: 12}
	for _, c := range []struct {
		st                   control.Status
		err                  error
		title, detail        string
		start, stop, restart bool
		progress             bool
	}{
		{st: control.Status{State: control.Stopped}, title: "Stopped", detail: "Start Berth", start: true},
		{st: control.Status{State: control.Starting, Step: "booting the VM"}, title: "Starting", detail: "booting the VM", stop: true, progress: true},
		{st: running, title: "Running", detail: "Docker 20.10.24 · kernel 6.1.0 · up 2 min", stop: true, restart: true},
		{st: control.Status{State: control.Running, Reason: "host disk full: /home/u/.local/share/berth/data.img, 0 bytes free; the VM is paused"},
			title: "Paused", detail: "host disk full: /home/u/.local/share/berth/data.img, 0 bytes free", stop: true},
		{st: stalled, title: "Disk not answering", detail: "The VM's disk stopped answering: vdb (the data disk", stop: true, restart: true},
		{st: control.Status{State: control.Stopping}, title: "Stopping", detail: "Stopping containers", progress: true},
		{st: control.Status{State: control.Error, Reason: "the guest did not answer"}, title: "Error", detail: "the guest did not answer — see the logs", start: true, stop: true},
		{err: errors.New("dial unix berth.sock: connection refused"), title: "Daemon not reachable", detail: "connection refused", start: true},
	} {
		run(u, func() { u.showStatus(c.st, c.err) })
		if u.title.Text != c.title || !strings.Contains(u.detail.Text, c.detail) {
			t.Errorf("%s: header %q / %q, want %q / …%q…", c.title, u.title.Text, u.detail.Text, c.title, c.detail)
		}
		if u.startBtn.Disabled() == c.start || u.stopBtn.Disabled() == c.stop || u.restartBtn.Disabled() == c.restart {
			t.Errorf("%s: start/stop/restart enabled = %v/%v/%v, want %v/%v/%v", c.title,
				!u.startBtn.Disabled(), !u.stopBtn.Disabled(), !u.restartBtn.Disabled(), c.start, c.stop, c.restart)
		}
		if u.progress.Visible() != c.progress {
			t.Errorf("%s: progress visible %v", c.title, u.progress.Visible())
		}
		stall := c.st.DiskStall != nil
		if (u.restartBtn.Importance == widget.DangerImportance) != stall || stall && !strings.Contains(u.detail.Text, "`berth restart`") {
			t.Errorf("%s: restart urged %v, want %v; detail %q", c.title, u.restartBtn.Importance == widget.DangerImportance, stall, u.detail.Text)
		}
		wantLogs := c.title == "Error" || c.title == "Paused" || stall || c.err != nil
		if (u.logBtn.Importance == widget.WarningImportance) != wantLogs {
			t.Errorf("%s: the logs button stands out: %v, want %v", c.title, u.logBtn.Importance == widget.WarningImportance, wantLogs)
		}
		if c.title == "Running" {
			if !strings.Contains(u.endpoint.Text, "unix:///run/user/1000/berth/docker.sock") || u.copyBtn.Disabled() {
				t.Errorf("running: endpoint %q (copy disabled %v)", u.endpoint.Text, u.copyBtn.Disabled())
			}
			if !u.notice.Visible() || !strings.Contains(u.notice.Text, "share /srv: not mounted") || !strings.Contains(u.notice.Text, "KVM internal error") {
				t.Errorf("running: guest problems and host notes not shown: %q", u.notice.Text)
			}
		} else if !u.copyBtn.Disabled() && c.st.State != control.Running {
			t.Errorf("%s: copy enabled without an endpoint", c.title)
		}
	}
}

func TestStartButtonStartsAndShowsErrors(t *testing.T) {
	m := &fakeMachine{st: control.Status{State: control.Stopped}}
	u, _ := newTestUI(t, m, newFakeEngine())
	run(u, func() { u.showStatus(m.st, nil) })
	run(u, func() { test.Tap(u.startBtn) })
	eventually(t, u, "the start to reach the daemon", func() bool { s, _ := m.calls(); return s == 1 })
	eventually(t, u, "the header to say starting", func() bool { return u.title.Text == "Starting" && u.startBtn.Disabled() })

	m.mu.Lock()
	m.st.State, m.startErr = control.Stopped, errors.New("no guest image found; build it with `make guest-image`")
	m.mu.Unlock()
	run(u, func() { u.showStatus(control.Status{State: control.Stopped}, nil) })
	run(u, func() { test.Tap(u.startBtn) })
	eventually(t, u, "the error in the window", func() bool {
		return u.banner.Visible() && strings.Contains(u.banner.Text, "make guest-image") && !u.startBtn.Disabled()
	})
}

func TestFollowsTheDaemonBack(t *testing.T) {
	m := &fakeMachine{down: true}
	u, _ := newTestUI(t, m, newFakeEngine())
	u.Start(true)
	eventually(t, u, "the unreachable daemon", func() bool { return u.title.Text == "Daemon not reachable" && !u.startBtn.Disabled() })
	m.set(false, control.Running)
	eventually(t, u, "the daemon back, running", func() bool { return u.title.Text == "Running" })
}

// Ports show as the user published them, from the daemon's forwards, with
// a host port that could not be opened in red.
func TestContainerPortsAsPublished(t *testing.T) {
	e := newFakeEngine()
	e.containers = []container.Summary{{
		ID: "0123456789abcdef", Names: []string{"/web"}, Image: "nginx", State: container.StateRunning, Status: "Up",
		Ports: []container.PortSummary{
			{IP: netip.MustParseAddr("127.0.0.1"), PrivatePort: 80, PublicPort: 18190, Type: "tcp"},
			{IP: netip.MustParseAddr("0.0.0.0"), PrivatePort: 81, PublicPort: 18191, Type: "tcp"},
			{IP: netip.MustParseAddr("::"), PrivatePort: 81, PublicPort: 18191, Type: "tcp"},
			{IP: netip.MustParseAddr("0.0.0.0"), PrivatePort: 82, PublicPort: 18193, Type: "tcp"},
		},
	}}
	m := &fakeMachine{st: control.Status{State: control.Running, DockerSocket: "/tmp/docker.sock"}}
	u, _ := newTestUI(t, m, e)
	w := u.Window()
	w.Resize(fyne.NewSize(1040, 720))
	run(u, func() { u.showStatus(m.st, nil) })
	eventually(t, u, "the container list", func() bool { return len(u.containers.shown) == 1 })
	// Before the daemon's forwards arrive, the engine's list: a wildcard
	// reads as "no address".
	if got := portLabels(u.containers.shown[0].Ports); got != "127.0.0.1:18190:80 http://127.0.0.1:18190 | 18191:81 http://localhost:18191 | 18193:82 http://localhost:18193" {
		t.Errorf("ports from the engine: %s", got)
	}

	m.st.Forwards = []control.Forward{
		{Container: "web", Published: "127.0.0.1:18190:80", Proto: "tcp", HostIP: "127.0.0.1", HostPort: 18190},
		{Container: "web", Published: "18191:81", Proto: "tcp", HostIP: "127.0.0.1", HostPort: 18191},
		{Container: "web", Published: "18191:81", Proto: "tcp", HostIP: "::1", HostPort: 18191, Error: "host port [::1]:18191/tcp is already in use"},
		{Container: "web", Published: "0.0.0.0:18193:82", Proto: "tcp", HostIP: "0.0.0.0", HostPort: 18193},
	}
	run(u, func() { u.showStatus(m.st, nil) })
	want := "127.0.0.1:18190:80 http://127.0.0.1:18190 | " +
		"18191:81 http://127.0.0.1:18191 not on ::1: host port [::1]:18191/tcp is already in use | " +
		"0.0.0.0:18193:82 http://localhost:18193"
	if got := portLabels(u.containers.shown[0].Ports); got != want {
		t.Errorf("ports from the forwards:\n got %s\nwant %s", got, want)
	}
	if !hasText(w.Canvas().Content(), "0.0.0.0:18193:82") || !hasText(w.Canvas().Content(), "127.0.0.1:18190:80") {
		t.Error("the window does not show the ports as published")
	}
}

func portLabels(links []PortLink) string {
	var s []string
	for _, l := range links {
		x := l.Label
		if l.URL != nil {
			x += " " + l.URL.String()
		}
		if l.Problem != "" {
			x += " " + l.Problem
		}
		s = append(s, x)
	}
	return strings.Join(s, " | ")
}

func TestContainersFromEngine(t *testing.T) {
	e := newFakeEngine()
	e.containers = []container.Summary{{
		ID: "0123456789abcdef", Names: []string{"/web"}, Image: "nginx:latest", State: container.StateRunning, Status: "Up 2 minutes",
		Ports:   []container.PortSummary{{PrivatePort: 80, PublicPort: 8080, Type: "tcp"}, {PrivatePort: 80, PublicPort: 8080, Type: "tcp"}},
		Created: time.Now().Add(-time.Hour).Unix(),
	}}
	e.images = []image.Summary{{ID: "sha256:abcdef0123456789", RepoTags: []string{"nginx:latest"}, Size: 187_000_000, Containers: 1}}
	e.volumes = []volume.Volume{{Name: "data", Driver: "local"}}
	m := &fakeMachine{st: control.Status{State: control.Running, DockerSocket: "/tmp/docker.sock"}}
	u, _ := newTestUI(t, m, e)
	w := u.Window()
	w.Resize(fyne.NewSize(1040, 720))
	run(u, func() { u.showStatus(m.st, nil) })
	eventually(t, u, "the container list", func() bool { return len(u.containers.shown) == 1 })
	r := u.containers.shown[0]
	if r.Name != "web" || r.Image != "nginx:latest" || len(r.Ports) != 1 || r.Ports[0].URL.String() != "http://localhost:8080" {
		t.Errorf("row %+v", r)
	}
	if !hasText(w.Canvas().Content(), "web") || !hasText(w.Canvas().Content(), "8080:80") {
		t.Error("the window does not show the container's name and port")
	}
	if len(u.images.rows) != 1 || u.images.rows[0].Size != "187 MB" || len(u.volumes.rows) != 1 {
		t.Errorf("images %+v volumes %+v", u.images.rows, u.volumes.rows)
	}

	// A container created elsewhere (docker run) shows up from the event.
	e.addContainer(container.Summary{ID: "feedfacecafe0000", Names: []string{"/db"}, Image: "postgres", State: container.StateExited, Status: "Exited (0)"})
	eventually(t, u, "the new container", func() bool { return len(u.containers.shown) == 2 })

	// The filter narrows the list.
	run(u, func() { u.containers.filter.SetText("postg") })
	eventually(t, u, "the filter", func() bool { return len(u.containers.shown) == 1 && u.containers.shown[0].Name == "db" })

	// Stopping the machine empties the lists and says why.
	run(u, func() { u.showStatus(control.Status{State: control.Stopped}, nil) })
	if len(u.containers.rows) != 0 || !u.containers.pane.empty.Visible() || !strings.Contains(u.containers.pane.empty.Text, "stopped") {
		t.Errorf("stopped: rows %d, message %q", len(u.containers.rows), u.containers.pane.empty.Text)
	}
}

func TestSettingsValidationShownAndSaved(t *testing.T) {
	u, p := newTestUI(t, &fakeMachine{}, newFakeEngine())
	s := u.settings
	run(u, func() {
		s.memory.SetText("lots")
		s.disk.SetText("4")
		test.Tap(s.save)
	})
	if !s.errors.Visible() || !strings.Contains(s.errors.Text, `Memory: "lots" is not a memory size`) || !strings.Contains(s.errors.Text, "Data disk 4: must be between 8 and 2048 GiB") {
		t.Errorf("errors shown: %q", s.errors.Text)
	}
	if _, err := os.Stat(p.File()); err == nil {
		t.Error("invalid settings were saved")
	}

	// A share inside a VM system folder is refused with the reason.
	run(u, func() {
		s.memory.SetText("3 GiB")
		s.disk.SetText("80")
		s.cpus.SetSelected("3")
		s.addShare("/usr/local/src")
		test.Tap(s.save)
	})
	if !s.errors.Visible() || !strings.Contains(s.errors.Text, "/usr") {
		t.Errorf("reserved share: errors %q", s.errors.Text)
	}
	run(u, func() {
		s.shares = s.shares[:len(s.shares)-1]
		s.renderShares()
		test.Tap(s.save)
	})
	if s.errors.Visible() {
		t.Fatalf("valid settings refused: %q", s.errors.Text)
	}
	got, err := settings.Load(p, u.o.Host)
	if err != nil || got.CPUs != 3 || got.MemoryMiB != 3072 || got.DiskGiB != 80 {
		t.Errorf("saved %+v (%v)", got, err)
	}

	// Against a running machine with other settings, a restart is pending.
	st := control.Status{State: control.Running, CPUs: 2, MemoryMiB: 2048, DiskGiB: 80, Shares: got.Shares}
	run(u, func() { u.showStatus(st, nil) })
	if !u.notice.Visible() || !strings.Contains(u.notice.Text, "Changed CPUs, memory apply after a restart") {
		t.Errorf("pending restart notice: %q", u.notice.Text)
	}
}

func TestSettingsContainerLogs(t *testing.T) {
	u, p := newTestUI(t, &fakeMachine{}, newFakeEngine())
	s := u.settings
	if s.logSize.Text != "10 MiB" || s.logFiles.Text != "3" {
		t.Errorf("the default limit shows as %q x %q, want 10 MiB x 3", s.logSize.Text, s.logFiles.Text)
	}
	run(u, func() {
		s.logSize.SetText("0")
		s.logFiles.SetText("many")
		test.Tap(s.save)
	})
	for _, want := range []string{`Container log files: "many" is not a whole number`,
		"Container log size 0 MiB: must be between 1 MiB and 1 GiB per file (logs cannot be unlimited"} {
		if !s.errors.Visible() || !strings.Contains(s.errors.Text, want) {
			t.Errorf("errors shown %q lack %q", s.errors.Text, want)
		}
	}
	if _, err := os.Stat(p.File()); err == nil {
		t.Error("invalid settings were saved")
	}

	run(u, func() {
		s.logSize.SetText("100M")
		s.logFiles.SetText(" 5 ")
		test.Tap(s.save)
	})
	if s.errors.Visible() {
		t.Fatalf("valid settings refused: %q", s.errors.Text)
	}
	got, err := settings.Load(p, u.o.Host)
	if err != nil || got.ContainerLogMiB != 100 || got.ContainerLogFiles != 5 {
		t.Errorf("saved %+v (%v), want logs of 100 MiB x 5", got, err)
	}

	// The machine runs with the old limit: the new one waits for a restart.
	st := control.Status{State: control.Running, CPUs: got.CPUs, MemoryMiB: got.MemoryMiB, DiskGiB: got.DiskGiB, Shares: got.Shares,
		ContainerLogMiB: 10, ContainerLogFiles: 3}
	run(u, func() { u.showStatus(st, nil) })
	if !u.notice.Visible() || !strings.Contains(u.notice.Text, "Changed container log limit apply after a restart") {
		t.Errorf("pending restart notice: %q", u.notice.Text)
	}
	st.ContainerLogMiB, st.ContainerLogFiles = 100, 5
	run(u, func() { u.showStatus(st, nil) })
	if u.notice.Visible() && strings.Contains(u.notice.Text, "container log") {
		t.Errorf("the machine runs with the saved limit, yet: %q", u.notice.Text)
	}
}

func TestSettingsContainerOptIns(t *testing.T) {
	u, p := newTestUI(t, &fakeMachine{}, newFakeEngine())
	s := u.settings
	if s.proxy.Checked || s.cas.Checked {
		t.Fatal("the containers' proxy and CAs show as on by default")
	}
	run(u, func() {
		s.proxy.SetChecked(true)
		s.cas.SetChecked(true)
		test.Tap(s.save)
	})
	if s.errors.Visible() {
		t.Fatalf("refused: %q", s.errors.Text)
	}
	got, err := settings.Load(p, u.o.Host)
	if err != nil || !got.ContainerProxy || !got.ContainerCAs {
		t.Fatalf("saved %+v (%v), want both opt-ins on", got, err)
	}

	// The machine started without them: they wait for a restart.
	st := control.Status{State: control.Running, CPUs: got.CPUs, MemoryMiB: got.MemoryMiB, DiskGiB: got.DiskGiB, Shares: got.Shares}
	run(u, func() { u.showStatus(st, nil) })
	if want := "Changed the containers' proxy, the containers' CAs apply after a restart"; !u.notice.Visible() || !strings.Contains(u.notice.Text, want) {
		t.Errorf("pending restart notice %q, want %q", u.notice.Text, want)
	}
	st.ContainerProxy, st.ContainerCAs = true, true
	run(u, func() { u.showStatus(st, nil) })
	if u.notice.Visible() && strings.Contains(u.notice.Text, "containers'") {
		t.Errorf("the machine runs with both, yet: %q", u.notice.Text)
	}

	// Reverting to the saved file shows them as saved.
	run(u, func() {
		s.proxy.SetChecked(false)
		test.Tap(s.revert)
	})
	if !s.proxy.Checked || !s.cas.Checked {
		t.Error("Revert did not show the saved opt-ins")
	}
}

func TestSettingsSharesEditing(t *testing.T) {
	u, _ := newTestUI(t, &fakeMachine{}, newFakeEngine())
	s := u.settings
	dir := t.TempDir()
	run(u, func() {
		s.addShare("relative/path")
	})
	if !strings.Contains(s.errors.Text, "not an absolute path") {
		t.Errorf("relative path: %q", s.errors.Text)
	}
	run(u, func() { s.addShare(dir + ":ro") })
	want := filesharing.Share{HostPath: dir, ReadOnly: true}
	if s.shares[len(s.shares)-1] != want {
		t.Errorf("shares %+v", s.shares)
	}
}

func TestLoginToggle(t *testing.T) {
	u, _ := newTestUI(t, &fakeMachine{}, newFakeEngine())
	l := u.o.Login.(*fakeLogin)
	run(u, func() { test.Tap(u.settings.login) })
	if !l.on {
		t.Error("open at login not enabled")
	}
	run(u, func() { test.Tap(u.settings.login) })
	if l.on {
		t.Error("open at login not disabled")
	}
}

func TestTray(t *testing.T) {
	a := &trayApp{App: test.NewTempApp(t)}
	m := &fakeMachine{}
	u := New(a, Options{Machine: m, Tray: true, Paths: settings.Paths{Config: t.TempDir(), Data: t.TempDir(), Run: t.TempDir()}, Host: settings.Host{CPUs: 2}})
	serialize(u)
	defer u.Stop()
	if a.menu == nil || a.icon != trayIcons[Idle] {
		t.Fatal("no tray menu or icon")
	}
	run(u, func() { u.showStatus(control.Status{State: control.Running}, nil) })
	if a.icon != trayIcons[Good] || u.tray.state.Label != "Berth: Running" || !u.tray.start.Disabled || u.tray.stop.Disabled {
		t.Errorf("tray while running: icon ok %v, %q, start disabled %v, stop disabled %v", a.icon == trayIcons[Good], u.tray.state.Label, u.tray.start.Disabled, u.tray.stop.Disabled)
	}
	last := a.menu.Items[len(a.menu.Items)-1]
	if !last.IsQuit || last.Label != "Quit" {
		t.Errorf("last tray item %+v, want our Quit", last)
	}
	// Closing the window keeps the GUI (and the machine) running.
	run(u, func() {
		u.Window().Show()
		u.closeWindow()
	})
	if _, stops := m.calls(); stops != 0 {
		t.Error("closing the window stopped the machine")
	}
}

type trayApp struct {
	fyne.App
	menu *fyne.Menu
	icon fyne.Resource
}

func (a *trayApp) SetSystemTrayMenu(m *fyne.Menu)    { a.menu = m }
func (a *trayApp) SetSystemTrayIcon(r fyne.Resource) { a.icon = r }
func (a *trayApp) SetSystemTrayWindow(fyne.Window)   {}

// hasText reports whether a label or hyperlink under o shows text.
func hasText(o fyne.CanvasObject, text string) bool {
	for _, obj := range test.LaidOutObjects(o) {
		switch w := obj.(type) {
		case *widget.Label:
			if w.Visible() && w.Text == text {
				return true
			}
		case *widget.Hyperlink:
			if w.Visible() && w.Text == text {
				return true
			}
		}
	}
	return false
}

// A host without a docker CLI is told where to get one while Berth runs:
// Berth serves the API, and the dashboard is where a new user looks.
func TestMissingDockerCLIIsShown(t *testing.T) {
	u, _ := newTestUI(t, &fakeMachine{}, &fakeEngine{})
	u.o.MissingCLI = dockerctx.MissingCLI("windows", dockerctx.Berth, func(string) (string, error) { return "", errors.New("not found") })
	run(u, func() {
		u.showStatus(control.Status{State: control.Running, Context: "berth", DockerSocket: "npipe:////./pipe/berth-docker"}, nil)
	})
	if !u.notice.Visible() || !strings.Contains(u.notice.Text, "No `docker` command") {
		t.Errorf("notice %q", u.notice.Text)
	}
	run(u, func() { u.showStatus(control.Status{State: control.Stopped}, nil) })
	if strings.Contains(u.notice.Text, "docker") && u.notice.Visible() {
		t.Errorf("stopped: %q", u.notice.Text)
	}
}

func TestDiskTabShowsAndReclaims(t *testing.T) {
	m := &fakeMachine{}
	u, _ := newTestUI(t, m, newFakeEngine())
	d := u.space
	run(u, func() { u.showStatus(control.Status{State: control.Stopped}, nil) })
	if !d.reclaim.Disabled() || !strings.Contains(d.host.Text, "fills in while it runs") {
		t.Fatalf("stopped: reclaim enabled %v, %q", !d.reclaim.Disabled(), d.host.Text)
	}
	// The tab open while the machine starts fills in once it runs.
	run(u, u.showDiskTab)
	run(u, func() { u.showStatus(control.Status{State: control.Running}, nil) })
	eventually(t, u, "the disk report", func() bool { return len(d.table.Objects) == 6 })
	if !strings.Contains(d.host.Text, "5.0 GiB on this computer's disk, of 64.0 GiB") || !strings.Contains(d.inside.Text, "4.0 GiB used, 58.0 GiB free") {
		t.Fatalf("disk view: %q / %q", d.host.Text, d.inside.Text)
	}
	if d.reclaim.Disabled() || d.picks[diskuse.Volumes].Checked || !d.picks[diskuse.BuildCache].Checked {
		t.Fatalf("reclaim enabled %v; volumes picked %v, build cache %v: want volumes off by default", !d.reclaim.Disabled(), d.picks[diskuse.Volumes].Checked, d.picks[diskuse.BuildCache].Checked)
	}
	run(u, func() {
		d.picks[diskuse.Images].SetChecked(false)
		d.picks[diskuse.Volumes].SetChecked(true)
		d.run(d.chosen())
	})
	eventually(t, u, "the reclaim's result", func() bool { return strings.Contains(d.step.Text, "The host got back 2.0 GiB") })
	if want := (diskuse.Picks{diskuse.Containers, diskuse.BuildCache, diskuse.Volumes}); !slices.Equal(m.reclaimed, want) {
		t.Fatalf("reclaimed %v, want %v", m.reclaimed, want)
	}
	eventually(t, u, "the report after the reclaim", func() bool { return strings.Contains(d.host.Text, "3.0 GiB on this computer's disk") })
	run(u, func() {
		for _, k := range diskuse.Kinds {
			d.picks[k].SetChecked(false)
		}
	})
	if !d.reclaim.Disabled() {
		t.Fatal("nothing picked: reclaim enabled")
	}
}

// The probe the end-to-end test clicks by: written from the window's
// first state on, with the controls' places and the tab.
func TestProbe(t *testing.T) {
	probe := filepath.Join(t.TempDir(), "probe.json")
	u, _ := newTestUIWith(t, &fakeMachine{}, newFakeEngine(), probe)
	run(u, func() { u.showStatus(control.Status{State: control.Running}, nil) })
	run(u, u.showDiskTab)
	eventually(t, u, "the Disk tab's report in the probe", func() bool {
		b, err := os.ReadFile(probe)
		var p probeState
		return err == nil && json.Unmarshal(b, &p) == nil && p.State == "running" && p.Tab == diskTabName && p.Controls["reclaim"].Enabled
	})
}
