package gui

import (
	"context"
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	"github.com/moby/moby/client"
)

var imageCols = columns{3, 1.3, 1, 1.2, 0.8, 0.6}

type imagesTab struct {
	u       *UI
	pane    listPane
	count   *widget.Label
	prune   *widget.Button
	rows    []ImageRow
	content fyne.CanvasObject
}

type imageCell struct {
	tag, id, size, created, inUse *widget.Label
	remove                        *widget.Button
}

func newImagesTab(u *UI) *imagesTab {
	t := &imagesTab{u: u}
	t.count = widget.NewLabel("")
	t.prune = widget.NewButtonWithIcon("Prune dangling images", theme.DeleteIcon(), t.pruneDangling)
	list := widget.NewList(
		func() int { return len(t.rows) },
		func() fyne.CanvasObject {
			c := &imageCell{tag: cell(), id: cell(), size: cell(), created: cell(), inUse: cell()}
			c.remove = iconButton(theme.DeleteIcon(), nil)
			return newRow(container.New(imageCols, c.tag, c.id, c.size, c.created, c.inUse, c.remove), c)
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			r, c := t.rows[id], o.(*row).cell.(*imageCell)
			c.tag.SetText(r.Tag)
			c.id.SetText(r.ShortID)
			c.size.SetText(r.Size)
			c.created.SetText(r.Created)
			c.inUse.SetText(map[bool]string{true: "in use", false: ""}[r.InUse])
			c.remove.OnTapped = func() { t.remove(r) }
		})
	t.pane = newListPane(container.NewBorder(nil, nil, nil, t.prune, t.count), header(imageCols, "Image", "ID", "Size", "Created", "", ""), list)
	t.content = t.pane.content
	return t
}

func (t *imagesTab) show(rows []ImageRow) {
	t.rows = rows
	t.count.SetText(fmt.Sprintf("%d images", len(rows)))
	t.prune.Enable()
	if len(rows) == 0 {
		t.pane.say("No images yet. `docker pull`, `docker build` or `docker load` add them.")
		return
	}
	t.pane.say("")
}

func (t *imagesTab) offline(why string) {
	t.rows = nil
	t.count.SetText("")
	t.prune.Disable()
	t.pane.say(why)
}

func (t *imagesTab) remove(r ImageRow) {
	dialog.ShowConfirm("Delete image", fmt.Sprintf("Delete the image %s (%s)?", r.Tag, r.ShortID), func(ok bool) {
		if !ok {
			return
		}
		t.u.engineAction("delete the image "+r.Tag, func(ctx context.Context, e Engine) error {
			_, err := e.ImageRemove(ctx, r.ID, client.ImageRemoveOptions{PruneChildren: true})
			if err != nil && r.InUse {
				return fmt.Errorf("%w (delete the containers that use it first, on the Containers tab)", err)
			}
			return err
		})
	}, t.u.win)
}

func (t *imagesTab) pruneDangling() {
	dialog.ShowConfirm("Prune dangling images", "Delete every image that has no tag and no container?", func(ok bool) {
		if !ok {
			return
		}
		t.u.engineAction("prune images", func(ctx context.Context, e Engine) error {
			_, err := e.ImagePrune(ctx, client.ImagePruneOptions{Filters: make(client.Filters).Add("dangling", "true")})
			return err
		})
	}, t.u.win)
}
