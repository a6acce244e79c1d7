package gui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
)

// tray is the system tray (menu bar) item: the state as icon and first
// line, the machine's actions, the dashboard, and Quit.
type tray struct {
	app                                     desktop.App
	menu                                    *fyne.Menu
	state, start, stop, restart, open, quit *fyne.MenuItem
}

// newTray returns nil when the driver has no tray (the test driver, or a
// desktop without one).
func newTray(a fyne.App, u *UI) *tray {
	d, ok := a.(desktop.App)
	if !ok {
		return nil
	}
	t := &tray{app: d}
	t.state = fyne.NewMenuItem("Berth is stopped", nil)
	t.state.Disabled = true
	t.start = fyne.NewMenuItem("Start", u.startMachine)
	t.stop = fyne.NewMenuItem("Stop", u.stopMachine)
	t.restart = fyne.NewMenuItem("Restart", u.restartMachine)
	t.open = fyne.NewMenuItem("Open dashboard", func() { u.win.Show(); u.win.RequestFocus() })
	t.quit = fyne.NewMenuItem("Quit", u.quit)
	t.quit.IsQuit = true // replaces the Quit fyne would add, which does not ask
	t.menu = fyne.NewMenu("Berth", t.state, fyne.NewMenuItemSeparator(), t.start, t.stop, t.restart,
		fyne.NewMenuItemSeparator(), t.open, fyne.NewMenuItemSeparator(), t.quit)
	d.SetSystemTrayMenu(t.menu)
	d.SetSystemTrayIcon(trayIcons[Idle])
	return t
}

func (t *tray) update(v MachineView) {
	t.state.Label = "Berth: " + v.Title
	t.start.Disabled = !v.CanStart
	t.stop.Disabled = !v.CanStop
	t.restart.Disabled = !v.CanRestart
	t.menu.Refresh()
	t.app.SetSystemTrayIcon(trayIcons[v.Tone])
}
