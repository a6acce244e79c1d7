package gui

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/app/settings"
	"github.com/berthvm/berth/filesharing"
	"github.com/berthvm/berth/internal/bytesize"
)

// settingsTab edits the same settings file as `berth start --cpus …` and
// checks it with the same code (settings.Settings.ValidateAgainstDisk).
type settingsTab struct {
	u       *UI
	saved   settings.Settings
	shares  []filesharing.Share // the draft's shared folders
	cpus    *widget.Select
	memory  *widget.Entry
	disk    *widget.Entry
	diskNow *widget.Label
	shareUI *fyne.Container
	newPath *widget.Entry
	act     *widget.Check
	login   *widget.Check
	save    *widget.Button
	revert  *widget.Button
	errors  *widget.Label
	done    *widget.Label
	body    *fyne.Container // re-laid out when a message shows or hides
	content fyne.CanvasObject
	loading bool // set while the form is filled in, so no handler fires

	// The engine's limit on each container's log.
	logSize, logFiles *widget.Entry
	// The opt-ins that give containers the host's proxy and CAs.
	proxy, cas *widget.Check
}

func newSettingsTab(u *UI) *settingsTab {
	t := &settingsTab{u: u}
	var opts []string
	for i := 1; i <= max(u.o.Host.CPUs, 1); i++ {
		opts = append(opts, strconv.Itoa(i))
	}
	t.cpus = widget.NewSelect(opts, nil)
	t.memory = widget.NewEntry()
	t.memory.SetPlaceHolder("e.g. 4 GiB or 2560M")
	t.disk = widget.NewEntry()
	t.disk.SetPlaceHolder("GiB")
	t.diskNow = widget.NewLabel("")
	t.diskNow.Importance = widget.LowImportance
	t.logSize = widget.NewEntry()
	t.logSize.SetPlaceHolder("per file, e.g. 10 MiB or 1G")
	t.logFiles = widget.NewEntry()
	t.logFiles.SetPlaceHolder("1 to 100")
	logNote := widget.NewLabel("The engine keeps each container's log to this many files of this size, so no log fills the data disk. " +
		"A change applies after a restart, to containers created from then on.")
	logNote.Importance = widget.LowImportance
	logNote.Wrapping = fyne.TextWrapWord
	t.shareUI = container.NewVBox()
	t.newPath = widget.NewEntry()
	t.newPath.SetPlaceHolder("Folder to share, e.g. " + exampleFolder())
	add := widget.NewButtonWithIcon("Add", theme.ContentAddIcon(), func() { t.addShare(t.newPath.Text) })
	browse := widget.NewButtonWithIcon("Browse…", theme.FolderOpenIcon(), t.browse)
	t.proxy = widget.NewCheck("Give containers and builds the host's proxy (through Berth's proxy on the VM's gateway)", nil)
	t.cas = widget.NewCheck("Give new containers the host's trusted CA certificates (read-only, over /etc/ssl/certs/ca-certificates.crt)", nil)
	optNote := widget.NewLabel("The engine itself always uses the host's proxy and CAs; these give them to containers too. " +
		"A change applies after a restart.")
	optNote.Importance = widget.LowImportance
	optNote.Wrapping = fyne.TextWrapWord
	t.act = widget.NewCheck("Make the \"berth\" docker context current, so plain `docker` talks to Berth", nil)
	t.login = widget.NewCheck("Open Berth at login (and start the machine)", t.setLogin)
	t.errors = widget.NewLabel("")
	t.errors.Importance = widget.DangerImportance
	t.errors.Wrapping = fyne.TextWrapWord
	t.errors.Hide()
	t.done = widget.NewLabel("")
	t.done.Wrapping = fyne.TextWrapWord
	t.done.Hide()
	t.save = widget.NewButtonWithIcon("Apply", theme.DocumentSaveIcon(), t.apply)
	t.save.Importance = widget.HighImportance
	t.revert = widget.NewButton("Revert", t.load)

	form := widget.NewForm(
		widget.NewFormItem("CPUs", t.cpus),
		widget.NewFormItem("Memory", t.memory),
		widget.NewFormItem("Data disk (GiB)", container.NewBorder(nil, nil, nil, t.diskNow, t.disk)),
		widget.NewFormItem("Container log size", t.logSize),
		widget.NewFormItem("Container log files", t.logFiles),
	)
	sharing := container.NewVBox(
		widget.NewLabelWithStyle("Shared folders", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		widget.NewLabel("Containers can bind-mount these host folders (and their subfolders) at the same paths."),
		t.shareUI,
		container.NewBorder(nil, nil, nil, container.NewHBox(browse, add), t.newPath),
	)
	body := container.NewVBox(form, logNote, t.proxy, t.cas, optNote, widget.NewSeparator(), sharing, widget.NewSeparator(), t.act, t.login,
		t.errors, t.done, container.NewHBox(t.save, t.revert))
	t.body = body
	t.content = container.NewVScroll(container.NewPadded(body))
	t.load()
	return t
}

func exampleFolder() string {
	if runtime.GOOS == "windows" {
		return `C:\src`
	}
	return "/srv/projects"
}

// load fills the form from the settings file.
func (t *settingsTab) load() {
	s, err := settings.Load(t.u.o.Paths, t.u.o.Host)
	if err != nil {
		t.showErrors(err)
		return
	}
	t.loading = true
	defer func() { t.loading = false }()
	t.saved = s
	t.cpus.SetSelected(strconv.Itoa(s.CPUs))
	t.memory.SetText(bytesize.MiB(s.MemoryMiB))
	t.disk.SetText(strconv.Itoa(s.DiskGiB))
	t.logSize.SetText(bytesize.MiB(s.ContainerLogMiB))
	t.logFiles.SetText(strconv.Itoa(s.ContainerLogFiles))
	t.diskNow.SetText("it can grow, never shrink")
	if n, err := settings.CurrentDiskSize(t.u.o.Paths, t.u.o.Host, settings.DiskSize); err == nil {
		t.diskNow.SetText(fmt.Sprintf("now %d GiB; it can grow, never shrink", n>>30))
	}
	t.shares = slices.Clone(s.Shares)
	t.act.SetChecked(s.Activate)
	t.proxy.SetChecked(s.ContainerProxy)
	t.cas.SetChecked(s.ContainerCAs)
	if t.u.o.Login != nil {
		on, err := t.u.o.Login.Enabled()
		t.login.SetChecked(on && err == nil)
	} else {
		t.login.Disable()
	}
	t.renderShares()
	t.errors.Hide()
	t.done.Hide()
}

func (t *settingsTab) renderShares() {
	t.shareUI.Objects = nil
	if len(t.shares) == 0 {
		t.shareUI.Add(widget.NewLabel("No folders are shared: bind mounts of host paths are refused."))
	}
	for i, sh := range t.shares {
		ro := widget.NewCheck("read-only", func(on bool) { t.shares[i].ReadOnly = on })
		ro.SetChecked(sh.ReadOnly)
		rm := iconButton(theme.DeleteIcon(), func() {
			t.shares = slices.Delete(t.shares, i, i+1)
			t.renderShares()
		})
		t.shareUI.Add(container.NewBorder(nil, nil, nil, container.NewHBox(ro, rm), widget.NewLabel(sh.HostPath)))
	}
	t.shareUI.Refresh()
}

func (t *settingsTab) addShare(text string) {
	text = strings.TrimSpace(text)
	if text == "" {
		t.showErrors(errors.New("type a folder to share, or pick one with Browse…"))
		return
	}
	sh, err := filesharing.ParseMount(runtime.GOOS, text)
	if err == nil && !filepath.IsAbs(sh.HostPath) {
		err = fmt.Errorf("%s is not an absolute path: give the whole path, like %s", sh.HostPath, exampleFolder())
	}
	if err != nil {
		t.showErrors(err)
		return
	}
	t.shares = filesharing.Add(runtime.GOOS, t.shares, sh)
	t.newPath.SetText("")
	t.errors.Hide()
	t.renderShares()
}

func (t *settingsTab) browse() {
	dialog.ShowFolderOpen(func(dir fyne.ListableURI, err error) {
		if err != nil {
			t.showErrors(err)
			return
		}
		if dir != nil {
			t.addShare(dir.Path())
		}
	}, t.u.win)
}

// draft reads the form into settings; the field errors come first.
func (t *settingsTab) draft() (settings.Settings, error) {
	s := t.saved
	var errs []error
	if n, err := strconv.Atoi(t.cpus.Selected); err == nil {
		s.CPUs = n
	} else {
		errs = append(errs, errors.New("CPUs: choose how many"))
	}
	if mib, err := settings.ParseGiB(t.memory.Text); err == nil {
		s.MemoryMiB = mib
	} else {
		errs = append(errs, fmt.Errorf("Memory: %w", err))
	}
	if n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(t.disk.Text), "GiB"))); err == nil {
		s.DiskGiB = n
	} else {
		errs = append(errs, fmt.Errorf("Data disk: %q is not a whole number of GiB", t.disk.Text))
	}
	if mib, err := settings.ParseLogSize(t.logSize.Text); err == nil {
		s.ContainerLogMiB = mib
	} else {
		errs = append(errs, fmt.Errorf("Container log size: %w", err))
	}
	if n, err := strconv.Atoi(strings.TrimSpace(t.logFiles.Text)); err == nil {
		s.ContainerLogFiles = n
	} else {
		errs = append(errs, fmt.Errorf("Container log files: %q is not a whole number", t.logFiles.Text))
	}
	s.Shares = slices.Clone(t.shares)
	s.Activate = t.act.Checked
	s.ContainerProxy, s.ContainerCAs = t.proxy.Checked, t.cas.Checked
	return s, errors.Join(errs...)
}

// apply validates and saves the form; what needs a restart says so and
// offers it.
func (t *settingsTab) apply() {
	s, err := t.draft()
	if err = errors.Join(err, s.ValidateAgainstDisk(t.u.o.Paths, t.u.o.Host)); err != nil {
		t.showErrors(err)
		return
	}
	if err := settings.Save(t.u.o.Paths, s); err != nil {
		t.showErrors(fmt.Errorf("%w: check that %s is writable", err, t.u.o.Paths.Config))
		return
	}
	t.saved = s
	t.errors.Hide()
	st := t.u.status
	if s.Activate && st.State == control.Running && st.Context != "" {
		if err := t.u.o.Contexts.Use(st.Context); err != nil {
			t.showErrors(fmt.Errorf("saved, but the docker context could not be made current: %w", err))
			return
		}
	}
	msg := "Saved."
	if restart := t.pendingRestart(st); restart != "" {
		msg = "Saved. " + restart
		dialog.ShowConfirm("Restart Berth?", "The new settings take effect when the machine restarts. Containers stop and start again.\nRestart now?",
			func(ok bool) {
				if ok {
					t.u.restartMachine()
				}
			}, t.u.win)
	}
	t.done.SetText(msg)
	t.done.Show()
	t.body.Refresh()
	t.u.showNotice()
}

// showErrors lists every problem, phrased for the window.
func (t *settingsTab) showErrors(err error) {
	t.done.Hide()
	t.errors.SetText(windowWording(err.Error()))
	t.errors.Show()
	t.body.Refresh()
}

// windowWording names the fields as the window does, where the shared
// message names the CLI flags.
func windowWording(msg string) string {
	return strings.NewReplacer("--cpus ", "CPUs ", "--memory ", "Memory ", "--disk ", "Data disk ",
		"--container-log-size ", "Container log size ", "--container-log-files ", "Container log files ",
		"berth start --mount PATH[:ro]", "Settings › Shared folders › Add",
		"berth start --unmount", "the Settings tab: remove").Replace(msg)
}

// pendingRestart says which saved settings differ from those the running
// machine started with.
func (t *settingsTab) pendingRestart(st control.Status) string {
	if st.State != control.Running {
		return ""
	}
	var what []string
	if t.saved.CPUs != st.CPUs {
		what = append(what, "CPUs")
	}
	if t.saved.MemoryMiB != st.MemoryMiB {
		what = append(what, "memory")
	}
	if t.saved.DiskGiB != st.DiskGiB {
		what = append(what, "disk size")
	}
	if !slices.Equal(t.saved.Shares, st.Shares) {
		what = append(what, "shared folders")
	}
	// A daemon that does not report the limit (0) is not taken for one
	// without a limit.
	if st.ContainerLogMiB != 0 && (t.saved.ContainerLogMiB != st.ContainerLogMiB || t.saved.ContainerLogFiles != st.ContainerLogFiles) {
		what = append(what, "container log limit")
	}
	if t.saved.ContainerProxy != st.ContainerProxy {
		what = append(what, "the containers' proxy")
	}
	if t.saved.ContainerCAs != st.ContainerCAs {
		what = append(what, "the containers' CAs")
	}
	if len(what) == 0 {
		return ""
	}
	return "Changed " + strings.Join(what, ", ") + " apply after a restart."
}

func (t *settingsTab) setLogin(on bool) {
	if t.loading || t.u.o.Login == nil {
		return
	}
	var err error
	if on {
		err = t.u.o.Login.Enable(t.u.o.LoginEntry)
	} else {
		err = t.u.o.Login.Disable()
	}
	if err != nil {
		t.showErrors(err)
		t.loading = true
		t.login.SetChecked(!on)
		t.loading = false
	}
}
