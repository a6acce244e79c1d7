// Package gui is Berth's desktop window and tray (fyne): the machine's
// state with Start/Stop/Restart, resource use, the docker endpoint, and
// tabs for containers, images, volumes and settings. It is a client of the
// daemon, which owns the VM: closing the window or quitting the GUI leaves
// the machine as it is unless the user asks to stop it.
//
// The package needs no cgo: package main creates the fyne app (GLFW), tests
// use fyne's test driver.
package gui

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/berthvm/berth/app/autostart"
	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/app/dockerctx"
	"github.com/berthvm/berth/app/settings"
	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/internal/bytesize"
)

// LoginItem turns opening at login on and off (autostart.At).
type LoginItem interface {
	Enabled() (bool, error)
	Enable(autostart.Entry) error
	Disable() error
}

// Options wire the window to its machine and engine.
type Options struct {
	Machine Machine
	Dial    func(socket string) (Engine, error)
	Paths   settings.Paths
	Host    settings.Host
	// Login and LoginEntry make "Open at login" work: LoginEntry is what
	// runs then (this binary, `gui --hidden`).
	Login      LoginItem
	LoginEntry autostart.Entry
	Contexts   dockerctx.Store
	// MissingCLI, if not empty, says the host has no docker CLI and where
	// to get one (dockerctx.MissingCLI): shown while Berth runs.
	MissingCLI string
	Log        *slog.Logger
	// Tray puts Start/Stop/Open/Quit in the system tray (menu bar) and keeps
	// the GUI running with the window closed. Without a tray, closing the
	// window quits the GUI (the machine keeps running).
	Tray bool
	// Probe, if set, is a file where the window writes its state and the
	// screen positions of its controls after each change, so an end-to-end
	// test can click the real buttons in the real window.
	Probe string
}

// UI is the dashboard window, its tabs and the tray.
type UI struct {
	app fyne.App
	win fyne.Window
	o   Options

	ctx    context.Context
	cancel context.CancelFunc

	// header
	dot                                   *canvas.Circle
	title, detail                         *widget.Label
	progress                              *widget.ProgressBarInfinite
	startBtn, stopBtn, restartBtn, logBtn *widget.Button
	cpu, mem, disk                        *widget.Label
	diskBtn                               *widget.Button // opens the Disk tab
	cpuBar, memBar, diskBar               *widget.ProgressBar
	endpoint                              *widget.Label
	copyBtn                               *widget.Button
	notice                                *widget.Label // guest problems, pending restart
	banner                                *widget.Label // the error of the last action
	header                                *fyne.Container

	tabs       *container.AppTabs
	containers *containersTab
	images     *imagesTab
	volumes    *volumesTab
	space      *diskTab
	settings   *settingsTab
	tray       *tray

	// do runs UI work from other goroutines on fyne's main goroutine
	// (fyne.Do); tests serialize it instead.
	do func(func())

	// Fields below are only touched on fyne's main goroutine (in do).
	status    control.Status
	statusErr error
	view      MachineView
	acting    string // "starting", "stopping": a request the user made is under way

	// running is whether the status shown is Running: the only state with
	// resource use, uptime and forwards to poll for.
	running atomic.Bool

	engMu     sync.Mutex
	engine    Engine
	engSocket string
	engCancel context.CancelFunc
}

// New builds the window; Run shows it and starts following the machine.
func New(a fyne.App, o Options) *UI {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Dial == nil {
		o.Dial = DialEngine
	}
	u := &UI{app: a, o: o, do: fyne.Do}
	u.ctx, u.cancel = context.WithCancel(context.Background())
	u.win = a.NewWindow("Berth")
	u.win.SetIcon(appIcon)
	u.build()
	u.win.Resize(fyne.NewSize(1040, 720))
	u.win.SetCloseIntercept(u.closeWindow)
	if o.Tray {
		u.tray = newTray(a, u)
	}
	u.showStatus(control.Status{State: control.Stopped}, nil)
	return u
}

// Window is the dashboard window.
func (u *UI) Window() fyne.Window { return u.win }

// Start begins following the machine in the background; show says whether
// the window opens now (at login Berth starts in the tray).
func (u *UI) Start(show bool) {
	go u.watchMachine()
	go u.pollMachine()
	if show || u.tray == nil {
		u.win.Show()
	}
}

// Stop ends the background work (the machine is left as it is).
func (u *UI) Stop() {
	u.cancel()
	u.setEngineSocket("")
}

func (u *UI) build() {
	u.dot = canvas.NewCircle(toneColor(Idle))
	dotBox := container.NewGridWrap(fyne.NewSize(18, 18), u.dot)
	u.title = widget.NewLabelWithStyle("Stopped", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	u.title.SizeName = theme.SizeNameSubHeadingText
	u.detail = widget.NewLabel("")
	u.detail.Wrapping = fyne.TextWrapWord
	u.progress = widget.NewProgressBarInfinite()
	u.progress.Hide()
	u.startBtn = widget.NewButtonWithIcon("Start", theme.MediaPlayIcon(), u.startMachine)
	u.startBtn.Importance = widget.HighImportance
	u.stopBtn = widget.NewButtonWithIcon("Stop", theme.MediaStopIcon(), u.stopMachine)
	u.restartBtn = widget.NewButtonWithIcon("Restart", theme.ViewRefreshIcon(), u.restartMachine)
	u.logBtn = widget.NewButtonWithIcon("Show logs", theme.DocumentIcon(), u.showMachineLogs)

	u.cpu = widget.NewLabel("CPU —")
	u.mem, u.disk = widget.NewLabel("Memory —"), widget.NewLabel("Data disk —")
	u.diskBtn = widget.NewButton("Details", u.showDiskTab)
	u.diskBtn.Importance = widget.LowImportance
	u.cpuBar, u.memBar, u.diskBar = widget.NewProgressBar(), widget.NewProgressBar(), widget.NewProgressBar()
	for _, b := range []*widget.ProgressBar{u.cpuBar, u.memBar, u.diskBar} {
		b.TextFormatter = func() string { return "" }
	}
	u.endpoint = widget.NewLabel("")
	u.endpoint.Truncation = fyne.TextTruncateEllipsis
	u.copyBtn = widget.NewButtonWithIcon("Copy", theme.ContentCopyIcon(), u.copyEndpoint)
	u.notice = widget.NewLabel("")
	u.notice.Wrapping = fyne.TextWrapWord
	u.notice.Importance = widget.WarningImportance
	u.notice.Hide()
	u.banner = widget.NewLabel("")
	u.banner.Wrapping = fyne.TextWrapWord
	u.banner.Importance = widget.DangerImportance
	u.banner.Hide()

	heading := container.NewBorder(nil, nil, container.NewHBox(dotBox, u.title), container.NewHBox(u.startBtn, u.stopBtn, u.restartBtn, u.logBtn))
	resources := container.NewGridWithColumns(3,
		container.NewVBox(u.cpu, u.cpuBar),
		container.NewVBox(u.mem, u.memBar),
		container.NewVBox(container.NewBorder(nil, nil, nil, u.diskBtn, u.disk), u.diskBar))
	endpoint := container.NewBorder(nil, nil, widget.NewLabelWithStyle("Docker endpoint", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), u.copyBtn, u.endpoint)
	u.header = container.NewVBox(heading, u.detail, u.progress, u.banner, u.notice, resources, endpoint)

	u.containers = newContainersTab(u)
	u.images = newImagesTab(u)
	u.volumes = newVolumesTab(u)
	u.space = newDiskTab(u)
	u.settings = newSettingsTab(u)
	u.tabs = container.NewAppTabs(
		container.NewTabItemWithIcon("Containers", theme.ComputerIcon(), u.containers.content),
		container.NewTabItemWithIcon("Images", theme.StorageIcon(), u.images.content),
		container.NewTabItemWithIcon("Volumes", theme.FolderIcon(), u.volumes.content),
		container.NewTabItemWithIcon(diskTabName, theme.StorageIcon(), u.space.content),
		container.NewTabItemWithIcon("Settings", theme.SettingsIcon(), u.settings.content),
	)
	u.tabs.OnSelected = func(ti *container.TabItem) {
		if ti.Text == diskTabName {
			u.space.load()
		}
		u.writeProbe()
	}
	u.win.SetContent(container.NewBorder(container.NewPadded(u.header), nil, nil, nil, u.tabs))
}

func toneColor(t Tone) color.Color {
	switch t {
	case Good:
		return color.NRGBA{R: 0x2e, G: 0xa0, B: 0x43, A: 0xff}
	case Busy:
		return color.NRGBA{R: 0xe0, G: 0x9a, B: 0x1a, A: 0xff}
	case Bad:
		return color.NRGBA{R: 0xd0, G: 0x36, B: 0x2c, A: 0xff}
	}
	return color.NRGBA{R: 0x8a, G: 0x8f, B: 0x98, A: 0xff}
}

// showStatus renders a status (main goroutine).
func (u *UI) showStatus(st control.Status, err error) {
	u.status, u.statusErr = st, err
	u.running.Store(st.State == control.Running)
	v := machineView(st, err)
	// While a start or stop the user asked for is on its way to the daemon,
	// the buttons stay off so it cannot be asked twice.
	if u.acting != "" {
		v.CanStart, v.CanStop, v.CanRestart = false, false, false
		if st.State == control.Stopped || st.State == control.Running {
			v.Progress = true
			v.Detail = "Asking the daemon: " + u.acting + "…"
		}
	}
	u.view = v
	u.dot.FillColor = toneColor(v.Tone)
	u.dot.Refresh()
	u.title.SetText(v.Title)
	u.detail.SetText(v.Detail)
	if v.Progress {
		u.progress.Show()
		u.progress.Start()
	} else {
		u.progress.Stop()
		u.progress.Hide()
	}
	enable(u.startBtn, v.CanStart)
	enable(u.stopBtn, v.CanStop)
	enable(u.restartBtn, v.CanRestart)
	if v.ShowLogs {
		u.logBtn.Importance = widget.WarningImportance
	} else {
		u.logBtn.Importance = widget.MediumImportance
	}
	u.logBtn.Refresh()
	if v.UrgeRestart {
		u.restartBtn.Importance = widget.DangerImportance
	} else {
		u.restartBtn.Importance = widget.MediumImportance
	}
	u.restartBtn.Refresh()

	if st.State == control.Running && st.DockerSocket != "" {
		u.endpoint.SetText(fmt.Sprintf("context %q · %s", st.Context, dockerctx.HostURL(st.DockerSocket)))
		u.copyBtn.Enable()
	} else {
		u.endpoint.SetText("available while Berth runs")
		u.copyBtn.Disable()
	}
	if st.State != control.Running {
		u.showStats(protocol.Stats{}, false)
	}
	u.showNotice()
	if u.tray != nil {
		u.tray.update(v)
	}
	u.containers.setForwards(st.Forwards)
	if st.State == control.Running {
		u.setEngineSocket(st.DockerSocket)
		u.space.follow()
	} else {
		u.setEngineSocket("")
		why := "Berth is " + strings.ToLower(v.Title) + ": this list fills in while it runs."
		u.containers.offline(why)
		u.images.offline(why)
		u.volumes.offline(why)
		u.space.offline(why)
	}
	u.writeProbe()
}

// showNotice lists what the host decided at start (emulation, and why),
// what the guest could not do, and settings that wait for a restart.
func (u *UI) showNotice() {
	var lines []string
	for _, n := range u.status.Notes {
		lines = append(lines, "Note: "+n)
	}
	if g := u.status.Guest; g != nil && u.status.State == control.Running {
		for _, p := range g.Problems {
			lines = append(lines, "Warning: "+p)
		}
	}
	if u.o.MissingCLI != "" && u.status.State == control.Running {
		lines = append(lines, u.o.MissingCLI)
	}
	if msg := u.settings.pendingRestart(u.status); msg != "" {
		lines = append(lines, msg)
	}
	if len(lines) == 0 {
		u.notice.Hide()
	} else {
		u.notice.SetText(joinLines(lines))
		u.notice.Show()
	}
	u.header.Refresh()
}

func enable(w fyne.Disableable, on bool) {
	if on {
		w.Enable()
	} else {
		w.Disable()
	}
}

func (u *UI) showStats(s protocol.Stats, ok bool) {
	if !ok {
		u.cpu.SetText("CPU —")
		u.mem.SetText("Memory —")
		u.disk.SetText("Data disk —")
		u.cpuBar.SetValue(0)
		u.memBar.SetValue(0)
		u.diskBar.SetValue(0)
		return
	}
	u.cpu.SetText(fmt.Sprintf("CPU %.0f%% of %d · load %.2f", s.CPUPercent, s.CPUs, s.Load1))
	u.mem.SetText(fmt.Sprintf("Memory %s of %s", bytesize.Binary(s.Memory.Used), bytesize.Binary(s.Memory.Total)))
	u.disk.SetText(fmt.Sprintf("Data disk %s of %s", bytesize.Binary(s.DataDisk.Used), bytesize.Binary(s.DataDisk.Total)))
	u.cpuBar.SetValue(s.CPUPercent / 100)
	u.memBar.SetValue(fraction(s.Memory))
	u.diskBar.SetValue(fraction(s.DataDisk))
}

func fraction(us protocol.Usage) float64 {
	if us.Total == 0 {
		return 0
	}
	return float64(us.Used) / float64(us.Total)
}

// showError puts the failure of an action in the window, with the next step.
func (u *UI) showError(action string, err error) {
	u.banner.SetText(fmt.Sprintf("Could not %s: %v", action, err))
	u.banner.Show()
	u.header.Refresh()
	dialog.ShowError(fmt.Errorf("could not %s: %w", action, err), u.win)
}

func (u *UI) clearError() {
	u.banner.Hide()
	u.header.Refresh()
}

// watchMachine follows the daemon's events; when the daemon is gone (or
// restarts) it falls back to polling and reconnects.
func (u *UI) watchMachine() {
	for u.ctx.Err() == nil {
		err := u.o.Machine.Events(u.ctx, func(control.Event) bool {
			u.refreshStatus()
			return true
		})
		if u.ctx.Err() != nil {
			return
		}
		u.o.Log.Debug("machine events ended", "err", err)
		u.refreshStatus()
		select {
		case <-u.ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// pollMachine refreshes what has no events while the machine runs:
// resource use, uptime, forwards. State changes come from watchMachine.
func (u *UI) pollMachine() {
	t := time.NewTicker(3 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-u.ctx.Done():
			return
		case <-t.C:
		}
		if !u.running.Load() {
			continue
		}
		st, err := u.o.Machine.Status(u.ctx)
		if err != nil || st.State != control.Running {
			continue
		}
		s, serr := u.o.Machine.Stats(u.ctx)
		u.do(func() {
			u.showStatus(st, nil)
			u.showStats(s, serr == nil)
		})
	}
}

func (u *UI) refreshStatus() {
	st, err := u.o.Machine.Status(u.ctx)
	if u.ctx.Err() != nil {
		return
	}
	u.do(func() { u.showStatus(st, err) })
}

// act runs a machine request in the background, keeping the buttons off
// until it is handed over, and shows its error in the window.
func (u *UI) act(verb, action string, fn func(context.Context) error) {
	u.acting = verb
	u.clearError()
	u.showStatus(u.status, u.statusErr)
	go func() {
		err := fn(u.ctx)
		st, serr := u.o.Machine.Status(u.ctx)
		u.do(func() {
			u.acting = ""
			u.showStatus(st, serr)
			if err != nil && !errors.Is(err, context.Canceled) {
				u.showError(action, err)
			}
		})
	}()
}

func (u *UI) startMachine() {
	u.act("starting", "start Berth", u.o.Machine.Start)
}

func (u *UI) stopMachine() {
	u.act("stopping", "stop Berth", func(ctx context.Context) error { return u.o.Machine.Stop(ctx, false) })
}

func (u *UI) restartMachine() {
	u.act("restarting", "restart Berth", func(ctx context.Context) error {
		if err := u.o.Machine.Stop(ctx, false); err != nil {
			return err
		}
		return u.o.Machine.Start(ctx)
	})
}

func (u *UI) copyEndpoint() {
	u.app.Clipboard().SetContent(dockerctx.HostURL(u.status.DockerSocket))
}

// closeWindow hides the window while the tray keeps Berth at hand; without
// a tray the GUI ends. The machine keeps running either way.
func (u *UI) closeWindow() {
	if u.tray != nil {
		u.win.Hide()
		return
	}
	u.Stop()
	u.app.Quit()
}

// quit asks whether to stop the machine too, then ends the GUI.
func (u *UI) quit() {
	u.win.Show()
	u.win.RequestFocus()
	if u.status.State == control.Stopped && u.statusErr == nil {
		u.Stop()
		u.app.Quit()
		return
	}
	var d dialog.Dialog
	stopAndQuit := widget.NewButton("Stop Berth and quit", func() {
		d.Hide()
		u.act("stopping", "stop Berth", func(ctx context.Context) error {
			err := u.o.Machine.Stop(ctx, false)
			if err == nil {
				u.do(func() { u.Stop(); u.app.Quit() })
			}
			return err
		})
	})
	stopAndQuit.Importance = widget.DangerImportance
	keep := widget.NewButton("Quit, keep Berth running", func() {
		d.Hide()
		u.Stop()
		u.app.Quit()
	})
	cancel := widget.NewButton("Cancel", func() { d.Hide() })
	body := container.NewVBox(
		widget.NewLabel("Berth's machine keeps running without this window: docker keeps working.\nStop it too?"),
		container.NewHBox(layout.NewSpacer(), cancel, keep, stopAndQuit))
	d = dialog.NewCustomWithoutButtons("Quit Berth", body, u.win)
	d.Show()
}
