package gui

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/berthvm/berth/app/launcher"
)

// maxLogLines bounds a log view's memory; older lines scroll away.
const maxLogLines = 20000

// logView shows log lines with a search box that filters them and a
// follow switch that keeps the newest line in view.
type logView struct {
	lines   []string
	shown   []string
	search  *widget.Entry
	follow  *widget.Check
	list    *widget.List
	status  *widget.Label
	content fyne.CanvasObject
}

func newLogView() *logView {
	v := &logView{}
	v.search = widget.NewEntry()
	v.search.SetPlaceHolder("Search")
	v.search.OnChanged = func(string) { v.apply() }
	v.follow = widget.NewCheck("Follow", func(on bool) {
		if on {
			v.list.ScrollToBottom()
		}
	})
	v.follow.SetChecked(true)
	v.status = widget.NewLabel("")
	v.list = widget.NewList(
		func() int { return len(v.shown) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("")
			l.TextStyle.Monospace = true
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		func(id widget.ListItemID, o fyne.CanvasObject) { o.(*widget.Label).SetText(v.shown[id]) })
	top := container.NewBorder(nil, nil, widget.NewIcon(theme.SearchIcon()), container.NewHBox(v.follow, v.status), v.search)
	v.content = container.NewBorder(top, nil, nil, nil, v.list)
	return v
}

// add appends lines (main goroutine).
func (v *logView) add(lines ...string) {
	v.lines = append(v.lines, lines...)
	if over := len(v.lines) - maxLogLines; over > 0 {
		v.lines = append(v.lines[:0:0], v.lines[over:]...)
	}
	v.apply()
}

// set replaces all lines (main goroutine).
func (v *logView) set(lines []string) {
	v.lines = nil
	v.add(lines...)
}

func (v *logView) apply() {
	v.shown = v.shown[:0]
	for _, l := range v.lines {
		if matches(v.search.Text, l) {
			v.shown = append(v.shown, l)
		}
	}
	if v.search.Text != "" {
		v.status.SetText(fmt.Sprintf("%d of %d lines", len(v.shown), len(v.lines)))
	} else {
		v.status.SetText(fmt.Sprintf("%d lines", len(v.lines)))
	}
	v.list.Refresh()
	if v.follow.Checked {
		v.list.ScrollToBottom()
	}
}

// lineSink turns a byte stream into lines for a logView, handing them to
// the main goroutine in batches so a chatty container cannot flood it.
type lineSink struct {
	mu      sync.Mutex
	partial []byte
	batch   []string
	flush   func([]string)
	timer   *time.Timer
}

func (s *lineSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.batch = append(s.batch, string(bytes.TrimRight(s.partial[:i], "\r")))
		s.partial = s.partial[i+1:]
	}
	if len(s.batch) > 0 && s.timer == nil {
		s.timer = time.AfterFunc(100*time.Millisecond, s.deliver)
	}
	return len(p), nil
}

func (s *lineSink) deliver() {
	s.mu.Lock()
	b := s.batch
	s.batch, s.timer = nil, nil
	s.mu.Unlock()
	if len(b) > 0 {
		s.flush(b)
	}
}

// openContainerLogs opens a window following a container's logs, like
// `docker logs -f --tail 1000`.
func (u *UI) openContainerLogs(r ContainerRow) {
	e := u.eng()
	if e == nil {
		u.showError("show the logs of "+r.Name, fmt.Errorf("the docker engine is not connected; start Berth first"))
		return
	}
	v := newLogView()
	w := u.app.NewWindow("Logs: " + r.Name)
	w.SetContent(v.content)
	w.Resize(fyne.NewSize(900, 560))
	ctx, cancel := context.WithCancel(u.ctx)
	w.SetOnClosed(cancel)
	w.Show()
	sink := &lineSink{flush: func(lines []string) { u.do(func() { v.add(lines...) }) }}
	go func() {
		err := followLogs(ctx, e, r.ID, sink)
		sink.deliver()
		if ctx.Err() != nil {
			return
		}
		msg := "— the container stopped; its log ends here —"
		if err != nil {
			msg = fmt.Sprintf("— the log stream failed: %v —", err)
		}
		u.do(func() { v.add(msg) })
	}()
}

// followLogs copies a container's log to w until it ends or ctx does.
func followLogs(ctx context.Context, e Engine, id string, w io.Writer) error {
	insp, err := e.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	rd, err := e.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true, Tail: "1000"})
	if err != nil {
		return err
	}
	defer rd.Close()
	// A container with a TTY logs raw bytes; others multiplex stdout and
	// stderr in frames.
	if insp.Container.Config != nil && insp.Container.Config.Tty {
		_, err = io.Copy(w, rd)
	} else {
		_, err = stdcopy.StdCopy(w, w, rd)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// showMachineLogs opens the daemon log and the VM console, refreshed while
// the window is open.
func (u *UI) showMachineLogs() {
	daemonLog, serialLog := newLogView(), newLogView()
	w := u.app.NewWindow("Berth logs")
	w.SetContent(container.NewAppTabs(
		container.NewTabItem("Daemon", daemonLog.content),
		container.NewTabItem("VM console", serialLog.content)))
	w.Resize(fyne.NewSize(960, 600))
	ctx, cancel := context.WithCancel(u.ctx)
	w.SetOnClosed(cancel)
	w.Show()
	go func() {
		for {
			d := readLines(u.o.Paths.DaemonLog())
			s := readLines(u.o.Paths.SerialLog())
			u.do(func() {
				if !slices.Equal(d, daemonLog.lines) {
					daemonLog.set(d)
				}
				if !slices.Equal(s, serialLog.lines) {
					serialLog.set(s)
				}
			})
			select {
			case <-ctx.Done():
				return
			case <-time.After(2 * time.Second):
			}
		}
	}()
}

func readLines(path string) []string {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader([]byte(launcher.Tail(path, maxLogLines))))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}
