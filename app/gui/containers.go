package gui

import (
	"context"
	"fmt"
	"slices"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	"github.com/moby/moby/client"

	"github.com/berthvm/berth/app/control"
)

var containerCols = columns{3, 1.6, 1.6, 1.2, 1.9}

type containersTab struct {
	u      *UI
	pane   listPane
	filter *widget.Entry
	count  *widget.Label
	rows   []ContainerRow // everything the engine has
	shown  []ContainerRow // rows that match the filter
	// forwards are the daemon's, which say how the user published each
	// running container's ports and what failed on the host.
	forwards []control.Forward
	pubs     map[string][]control.Publication // by container name
	// content is the tab's body.
	content fyne.CanvasObject
}

// containerCell holds one list row's widgets, rebound as the list scrolls.
type containerCell struct {
	name, image, state, created *widget.Label
	ports                       *fyne.Container
	startStop, restart, logs    *widget.Button
	remove                      *widget.Button
}

func newContainersTab(u *UI) *containersTab {
	t := &containersTab{u: u}
	t.filter = widget.NewEntry()
	t.filter.SetPlaceHolder("Search by name or image")
	t.filter.OnChanged = func(string) { t.apply() }
	t.count = widget.NewLabel("")
	toolbar := container.NewBorder(nil, nil, nil, t.count, t.filter)
	list := widget.NewList(
		func() int { return len(t.shown) },
		t.makeRow,
		func(id widget.ListItemID, o fyne.CanvasObject) { t.bind(t.shown[id], o) })
	list.HideSeparators = false
	t.pane = newListPane(toolbar, header(containerCols, "Name / image", "State", "Ports", "Created", "Actions"), list)
	t.content = t.pane.content
	return t
}

func (t *containersTab) makeRow() fyne.CanvasObject {
	c := &containerCell{name: cell(), image: cell(), state: cell(), created: cell()}
	c.name.TextStyle.Bold = true
	c.image.Importance = widget.LowImportance
	c.ports = container.NewHBox()
	c.startStop = iconButton(theme.MediaPlayIcon(), nil)
	c.restart = iconButton(theme.ViewRefreshIcon(), nil)
	c.logs = iconButton(theme.DocumentIcon(), nil)
	c.remove = iconButton(theme.DeleteIcon(), nil)
	cells := container.New(containerCols,
		container.NewVBox(c.name, c.image), c.state, c.ports, c.created,
		container.NewHBox(c.startStop, c.restart, c.logs, c.remove))
	return newRow(cells, c)
}

func (t *containersTab) bind(r ContainerRow, o fyne.CanvasObject) {
	c := o.(*row).cell.(*containerCell)
	c.name.SetText(r.Name)
	c.image.SetText(r.Image)
	c.state.SetText(r.Status)
	if r.Running {
		c.state.Importance = widget.SuccessImportance
		c.startStop.SetIcon(theme.MediaStopIcon())
		c.startStop.OnTapped = func() { t.stop(r) }
	} else {
		c.state.Importance = widget.MediumImportance
		c.startStop.SetIcon(theme.MediaPlayIcon())
		c.startStop.OnTapped = func() { t.start(r) }
	}
	c.state.Refresh()
	c.created.SetText(r.Created)
	c.ports.Objects = nil
	for _, p := range r.Ports {
		switch {
		case p.Problem != "":
			l := widget.NewLabel(p.Label + " (" + p.Problem + ")")
			l.Importance = widget.DangerImportance
			l.Wrapping = fyne.TextWrapWord
			c.ports.Add(l)
		case p.URL != nil:
			c.ports.Add(widget.NewHyperlink(p.Label, p.URL))
		default:
			c.ports.Add(widget.NewLabel(p.Label))
		}
	}
	c.ports.Refresh()
	enable(c.restart, r.Running)
	c.restart.OnTapped = func() { t.restart(r) }
	c.logs.OnTapped = func() { t.u.openContainerLogs(r) }
	c.remove.OnTapped = func() { t.remove(r) }
}

// show replaces the rows with what the engine reports.
func (t *containersTab) show(rows []ContainerRow) {
	t.rows = rows
	t.apply()
}

// offline empties the list, saying why.
func (t *containersTab) offline(why string) {
	t.rows, t.shown = nil, nil
	t.count.SetText("")
	t.pane.say(why)
}

// setForwards takes the daemon's forwards; the rows show them once known.
func (t *containersTab) setForwards(fws []control.Forward) {
	if slices.Equal(fws, t.forwards) {
		return
	}
	t.forwards = fws
	t.pubs = map[string][]control.Publication{}
	for _, p := range control.Publications(fws) {
		t.pubs[p.Container] = append(t.pubs[p.Container], p)
	}
	t.apply()
}

func (t *containersTab) apply() {
	t.shown = t.shown[:0]
	running := 0
	for _, r := range t.rows {
		if r.Running {
			running++
			if pubs, ok := t.pubs[r.Name]; ok {
				r.Ports = forwardLinks(pubs)
			}
		}
		if matches(t.filter.Text, r.Name, r.Image, r.ID) {
			t.shown = append(t.shown, r)
		}
	}
	t.count.SetText(fmt.Sprintf("%d running · %d in all", running, len(t.rows)))
	switch {
	case len(t.rows) == 0:
		t.pane.say("No containers yet. Run one with `docker run`; it shows here.")
	case len(t.shown) == 0:
		t.pane.say("No container matches " + fmt.Sprintf("%q", t.filter.Text) + ".")
	default:
		t.pane.say("")
	}
}

func (t *containersTab) start(r ContainerRow) {
	t.u.engineAction("start "+r.Name, func(ctx context.Context, e Engine) error {
		_, err := e.ContainerStart(ctx, r.ID, client.ContainerStartOptions{})
		return err
	})
}

func (t *containersTab) stop(r ContainerRow) {
	t.u.engineAction("stop "+r.Name, func(ctx context.Context, e Engine) error {
		_, err := e.ContainerStop(ctx, r.ID, client.ContainerStopOptions{})
		return err
	})
}

func (t *containersTab) restart(r ContainerRow) {
	t.u.engineAction("restart "+r.Name, func(ctx context.Context, e Engine) error {
		_, err := e.ContainerRestart(ctx, r.ID, client.ContainerRestartOptions{})
		return err
	})
}

func (t *containersTab) remove(r ContainerRow) {
	msg := fmt.Sprintf("Delete the container %s (%s)?", r.Name, r.Image)
	if r.Running {
		msg += "\nIt is running: it is stopped first."
	}
	msg += "\nIts anonymous volumes go with it; named volumes stay."
	dialog.ShowConfirm("Delete container", msg, func(ok bool) {
		if !ok {
			return
		}
		t.u.engineAction("delete "+r.Name, func(ctx context.Context, e Engine) error {
			_, err := e.ContainerRemove(ctx, r.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			return err
		})
	}, t.u.win)
}

// names of the listed containers, for the probe.
func (t *containersTab) names() []string {
	var n []string
	for _, r := range t.rows {
		n = append(n, r.Name)
	}
	return n
}
