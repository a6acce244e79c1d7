package gui

import (
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// columns lays cells out side by side with widths in proportion to their
// weights, so a header row and the list rows under it line up.
type columns []float32

func (c columns) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	pad := theme.Padding()
	var total float32
	for _, w := range c {
		total += w
	}
	avail := size.Width - pad*float32(len(c)-1)
	x := float32(0)
	for i, o := range objs {
		if i >= len(c) {
			o.Hide()
			continue
		}
		w := avail * c[i] / total
		h := o.MinSize().Height
		o.Move(fyne.NewPos(x, (size.Height-h)/2))
		o.Resize(fyne.NewSize(w, h))
		x += w + pad
	}
}

func (c columns) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var h float32
	for _, o := range objs {
		h = max(h, o.MinSize().Height)
	}
	return fyne.NewSize(float32(len(c))*40, h)
}

// header is the row of column titles above a list.
func header(c columns, titles ...string) fyne.CanvasObject {
	cells := make([]fyne.CanvasObject, len(titles))
	for i, t := range titles {
		l := widget.NewLabelWithStyle(t, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		l.Truncation = fyne.TextTruncateEllipsis
		cells[i] = l
	}
	return container.New(c, cells...)
}

// cell is a label that truncates instead of widening its column.
func cell() *widget.Label {
	l := widget.NewLabel("")
	l.Truncation = fyne.TextTruncateEllipsis
	return l
}

// iconButton is a compact row action.
func iconButton(icon fyne.Resource, tapped func()) *widget.Button {
	b := widget.NewButtonWithIcon("", icon, tapped)
	b.Importance = widget.LowImportance
	return b
}

// row is a list row that carries its cells, so the list's update function
// finds the widgets again when it rebinds the row.
type row struct {
	widget.BaseWidget
	content fyne.CanvasObject
	cell    any
}

func newRow(content fyne.CanvasObject, cell any) *row {
	r := &row{content: content, cell: cell}
	r.ExtendBaseWidget(r)
	return r
}

func (r *row) CreateRenderer() fyne.WidgetRenderer { return widget.NewSimpleRenderer(r.content) }

// listPane is a tab's body: a toolbar, a header row, the list, and a line
// that says why the list is empty (stopped machine, no items, an error).
type listPane struct {
	content fyne.CanvasObject
	list    *widget.List
	empty   *widget.Label
}

func newListPane(toolbar, head fyne.CanvasObject, list *widget.List) listPane {
	empty := widget.NewLabel("")
	empty.Alignment = fyne.TextAlignCenter
	empty.Wrapping = fyne.TextWrapWord
	body := container.NewStack(list, container.NewVBox(empty))
	return listPane{content: container.NewBorder(container.NewVBox(toolbar, head), nil, nil, nil, body), list: list, empty: empty}
}

// say shows msg in place of the list ("" shows the list).
func (p listPane) say(msg string) {
	p.empty.SetText(msg)
	if msg == "" {
		p.empty.Hide()
	} else {
		p.empty.Show()
	}
	p.list.Refresh()
}

func joinLines(lines []string) string { return strings.Join(lines, "\n") }

// matches is the case-insensitive search of the filter boxes.
func matches(query string, fields ...string) bool {
	if query == "" {
		return true
	}
	q := strings.ToLower(query)
	for _, f := range fields {
		if strings.Contains(strings.ToLower(f), q) {
			return true
		}
	}
	return false
}
