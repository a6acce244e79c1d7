package gui

import (
	"encoding/json"

	"fyne.io/fyne/v2"

	"github.com/berthvm/berth/internal/atomicfile"
)

// probeState is what the window writes to Options.Probe: enough for an
// end-to-end test to wait for a state and click a real control with a real
// pointer (xdotool), in window coordinates.
type probeState struct {
	State      string          `json:"state"`
	Title      string          `json:"title"`
	Detail     string          `json:"detail"`
	Tab        string          `json:"tab"`
	Containers []string        `json:"containers"`
	Controls   map[string]rect `json:"controls"`
}

type rect struct {
	X, Y, W, H float32
	Enabled    bool
}

func (u *UI) writeProbe() {
	if u.o.Probe == "" {
		return
	}
	p := probeState{State: string(u.status.State), Title: u.view.Title, Detail: u.view.Detail, Containers: u.containers.names(), Controls: map[string]rect{}}
	if u.tabs != nil && u.tabs.Selected() != nil {
		p.Tab = u.tabs.Selected().Text
	}
	for name, b := range map[string]interface {
		fyne.CanvasObject
		Disabled() bool
	}{"start": u.startBtn, "stop": u.stopBtn, "restart": u.restartBtn, "logs": u.logBtn, "disk": u.diskBtn, "reclaim": u.space.reclaim} {
		pos := u.app.Driver().AbsolutePositionForObject(b)
		sz := b.Size()
		p.Controls[name] = rect{X: pos.X, Y: pos.Y, W: sz.Width, H: sz.Height, Enabled: b.Visible() && !b.Disabled()}
	}
	b, err := json.Marshal(p)
	if err == nil {
		err = atomicfile.Write(u.o.Probe, b, 0o600)
	}
	if err != nil {
		u.o.Log.Warn("write the GUI probe", "err", err)
	}
}
