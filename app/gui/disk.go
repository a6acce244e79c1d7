package gui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/berthvm/berth/app/diskuse"
	"github.com/berthvm/berth/internal/bytesize"
)

// diskTab shows what the data disk takes on the host and what fills it,
// and reclaims what the user picks (diskuse, through the daemon).
type diskTab struct {
	u        *UI
	host     *widget.Label
	inside   *widget.Label
	table    *fyne.Container
	picks    map[diskuse.Kind]*widget.Check
	reclaim  *widget.Button
	refresh  *widget.Button
	progress *widget.ProgressBarInfinite
	step     *widget.Label
	report   diskuse.Report
	busy     bool // a reclaim runs
	loading  bool // a report is on its way
	content  fyne.CanvasObject
}

const diskTabName = "Disk"

var diskCols = columns{1.2, 0.6, 0.6, 1, 2}

func newDiskTab(u *UI) *diskTab {
	t := &diskTab{u: u, host: widget.NewLabel(""), inside: widget.NewLabel(""), step: widget.NewLabel(""), picks: map[diskuse.Kind]*widget.Check{}}
	t.host.Wrapping = fyne.TextWrapWord
	t.step.Wrapping = fyne.TextWrapWord
	t.table = container.NewVBox()
	t.reclaim = widget.NewButtonWithIcon("Reclaim space", theme.DeleteIcon(), t.confirm)
	t.reclaim.Importance = widget.HighImportance
	t.refresh = widget.NewButtonWithIcon("Refresh", theme.ViewRefreshIcon(), t.load)
	var checks []fyne.CanvasObject
	for _, k := range diskuse.Kinds {
		c := widget.NewCheck(k.Unused(), nil)
		c.SetChecked(diskuse.DefaultPicks.Has(k))
		t.picks[k] = c
		checks = append(checks, c)
	}
	for _, c := range t.picks {
		c.OnChanged = func(bool) { t.showPicks() }
	}
	t.progress = widget.NewProgressBarInfinite()
	t.progress.Hide()
	t.progress.Stop()
	reclaimBox := container.NewVBox(
		widget.NewLabelWithStyle("Reclaim space", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		container.NewVBox(checks...),
		container.NewHBox(t.reclaim, t.refresh),
		t.progress, t.step)
	// The reclaim controls beside the table, so both fit the window.
	body := container.NewBorder(nil, nil, nil, container.NewHBox(widget.NewSeparator(), reclaimBox), t.table)
	t.content = container.NewVScroll(container.NewPadded(container.NewVBox(t.host, t.inside, widget.NewSeparator(), body)))
	t.host.SetText("Start Berth to see what its data disk holds.")
	t.showPicks()
	return t
}

// showDiskTab brings the Disk tab forward (the header's Details).
func (u *UI) showDiskTab() {
	for _, ti := range u.tabs.Items {
		if ti.Text == diskTabName {
			u.tabs.Select(ti)
		}
	}
}

// chosen is what the checks pick.
func (t *diskTab) chosen() diskuse.Picks {
	var p diskuse.Picks
	for _, k := range diskuse.Kinds {
		if t.picks[k].Checked {
			p = append(p, k)
		}
	}
	return p
}

func (t *diskTab) showPicks() {
	enable(t.reclaim, !t.busy && len(t.chosen()) > 0 && len(t.report.Categories) > 0)
	enable(t.refresh, !t.busy && t.u.running.Load())
}

func textCell(s string) *widget.Label {
	c := cell()
	c.SetText(s)
	return c
}

// offline clears the view when there is no engine to ask.
func (t *diskTab) offline(why string) {
	t.report = diskuse.Report{}
	t.host.SetText(why)
	t.inside.SetText("")
	t.table.Objects = nil
	t.table.Refresh()
	t.showPicks()
	t.u.writeProbe()
}

// follow reloads an empty view once the machine runs, for a window that
// showed the Disk tab while Berth was still starting.
func (t *diskTab) follow() {
	if t.u.tabs.Selected().Text == diskTabName && len(t.report.Categories) == 0 && !t.loading && !t.busy {
		t.load()
	}
}

// load asks the daemon for the report, off the main goroutine.
func (t *diskTab) load() {
	if !t.u.running.Load() {
		t.offline("Start Berth to see what its data disk holds.")
		return
	}
	t.loading = true
	go func() {
		ctx, cancel := context.WithTimeout(t.u.ctx, time.Minute)
		defer cancel()
		r, err := t.u.o.Machine.DiskUse(ctx)
		t.u.do(func() {
			t.loading = false
			if err != nil {
				t.offline("Could not read the disk use: " + err.Error())
				return
			}
			t.show(r)
		})
	}()
}

func (t *diskTab) show(r diskuse.Report) {
	t.report = r
	fs := r.Guest.Filesystem
	t.host.SetText(fmt.Sprintf("Data disk: %s on this computer's disk, of %s (%s)", bytesize.Binary(r.Host.Allocated), bytesize.Binary(r.Host.Size), r.Host.Path))
	t.inside.SetText(fmt.Sprintf("In the VM: %s used, %s free", bytesize.Binary(fs.Used), bytesize.Binary(fs.Total-min(fs.Used, fs.Total))))
	rows := []fyne.CanvasObject{header(diskCols, "What", "Count", "In use", "Size", "Reclaim frees")}
	for _, c := range r.Categories {
		rows = append(rows, container.New(diskCols, textCell(c.Kind.Title()), textCell(fmt.Sprint(c.Count)), textCell(fmt.Sprint(c.Active)),
			textCell(bytesize.Decimal(c.Size)), textCell(fmt.Sprintf("%s (%d)", bytesize.Decimal(c.Frees), c.FreesCount))))
	}
	rows = append(rows, container.New(diskCols, textCell("Logs"), textCell(""), textCell(""), textCell(bytesize.Decimal(int64(r.Guest.Logs))), textCell("limited per container; removed with it")))
	t.table.Objects = rows
	t.table.Refresh()
	t.showPicks()
	t.u.writeProbe()
}

// confirm says what the picks would free, then reclaims.
func (t *diskTab) confirm() {
	picks := t.chosen()
	var what []string
	for _, c := range t.report.Categories {
		if picks.Has(c.Kind) {
			what = append(what, fmt.Sprintf("%d %s (%s)", c.FreesCount, c.Kind.Unused(), bytesize.Decimal(c.Frees)))
		}
	}
	msg := "Remove " + strings.Join(what, ", ") + ", then trim the data disk so that this computer gets the space back?"
	dialog.ShowConfirm("Reclaim space", msg, func(ok bool) {
		if ok {
			t.run(picks)
		}
	}, t.u.win)
}

func (t *diskTab) run(picks diskuse.Picks) {
	t.busy = true
	t.progress.Show()
	t.progress.Start()
	t.step.SetText("")
	t.showPicks()
	go func() {
		ctx, cancel := context.WithTimeout(t.u.ctx, 30*time.Minute)
		defer cancel()
		res, err := t.u.o.Machine.Reclaim(ctx, picks, func(step string) {
			t.u.do(func() { t.step.SetText(step) })
		})
		t.u.do(func() {
			t.busy = false
			t.progress.Stop()
			t.progress.Hide()
			var b strings.Builder
			_ = res.Write(&b) // a strings.Builder takes every write
			t.step.SetText(strings.TrimSpace(b.String()))
			if err != nil {
				t.u.showError("reclaim all the space", err)
			}
			t.load()
		})
	}()
}
