package gui

import (
	"context"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/versions"
)

var volumeCols = columns{3, 1, 1, 2.4, 0.6}

type volumesTab struct {
	u       *UI
	pane    listPane
	count   *widget.Label
	prune   *widget.Button
	rows    []VolumeRow
	content fyne.CanvasObject
}

type volumeCell struct {
	name, driver, size, usedBy *widget.Label
	remove                     *widget.Button
}

func newVolumesTab(u *UI) *volumesTab {
	t := &volumesTab{u: u}
	t.count = widget.NewLabel("")
	t.prune = widget.NewButtonWithIcon("Prune unused volumes", theme.DeleteIcon(), t.pruneUnused)
	list := widget.NewList(
		func() int { return len(t.rows) },
		func() fyne.CanvasObject {
			c := &volumeCell{name: cell(), driver: cell(), size: cell(), usedBy: cell()}
			c.remove = iconButton(theme.DeleteIcon(), nil)
			return newRow(container.New(volumeCols, c.name, c.driver, c.size, c.usedBy, c.remove), c)
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			r, c := t.rows[id], o.(*row).cell.(*volumeCell)
			c.name.SetText(r.Name)
			c.driver.SetText(r.Driver)
			c.size.SetText(r.Size)
			c.usedBy.SetText(strings.Join(r.UsedBy, ", "))
			c.remove.OnTapped = func() { t.remove(r) }
		})
	t.pane = newListPane(container.NewBorder(nil, nil, nil, t.prune, t.count), header(volumeCols, "Volume", "Driver", "Size", "In use by", ""), list)
	t.content = t.pane.content
	return t
}

func (t *volumesTab) show(rows []VolumeRow) {
	t.rows = rows
	t.count.SetText(fmt.Sprintf("%d volumes", len(rows)))
	t.prune.Enable()
	if len(rows) == 0 {
		t.pane.say("No volumes yet. `docker volume create` or `docker run -v NAME:/path` make them; they live on Berth's data disk.")
		return
	}
	t.pane.say("")
}

func (t *volumesTab) offline(why string) {
	t.rows = nil
	t.count.SetText("")
	t.prune.Disable()
	t.pane.say(why)
}

func (t *volumesTab) remove(r VolumeRow) {
	if len(r.UsedBy) > 0 {
		t.u.showError("delete the volume "+r.Name, fmt.Errorf("it is in use by %s: delete those containers first, on the Containers tab", strings.Join(r.UsedBy, ", ")))
		return
	}
	dialog.ShowConfirm("Delete volume", fmt.Sprintf("Delete the volume %s and all its data?", r.Name), func(ok bool) {
		if !ok {
			return
		}
		t.u.engineAction("delete the volume "+r.Name, func(ctx context.Context, e Engine) error {
			_, err := e.VolumeRemove(ctx, r.Name, client.VolumeRemoveOptions{})
			return err
		})
	}, t.u.win)
}

func (t *volumesTab) pruneUnused() {
	dialog.ShowConfirm("Prune unused volumes", "Delete every volume, named or anonymous, that no container uses, with its data?", func(ok bool) {
		if !ok {
			return
		}
		t.u.engineAction("prune volumes", func(ctx context.Context, e Engine) error {
			// Before API 1.42 prune took named volumes too, and knew no "all".
			_, err := e.VolumePrune(ctx, client.VolumePruneOptions{All: versions.GreaterThanOrEqualTo(e.ClientVersion(), "1.42")})
			return err
		})
	}, t.u.win)
}
