//go:build cgo

// Command berth-gui is Berth's window and tray. `berth` (no arguments) and
// `berth gui` run it; it is a binary of its own so the CLI and the daemon
// do not link OpenGL nor run fyne's start-up code.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	fyneapp "fyne.io/fyne/v2/app"

	"github.com/berthvm/berth/app/autostart"
	"github.com/berthvm/berth/app/dockerctx"
	"github.com/berthvm/berth/app/gui"
	"github.com/berthvm/berth/app/launcher"
	"github.com/berthvm/berth/app/settings"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "berth gui: %v\n", err)
		os.Exit(1)
	}
}

// run opens the dashboard window and the tray. The GUI is a client of the
// daemon: it starts one when asked to start the machine and leaves the
// machine running when it quits, unless the user says otherwise.
func run() error {
	fs := flag.NewFlagSet("berth gui", flag.ContinueOnError)
	hidden := fs.Bool("hidden", false, "start in the tray without a window, and start the machine (used at login)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	p, err := settings.DefaultPaths()
	if err != nil {
		return err
	}
	if err := p.Ensure(); err != nil {
		return err
	}
	berth, err := cliBinary()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	machine := launcher.Client{Paths: p, Berth: berth}
	a := fyneapp.NewWithID(autostart.Label)
	u := gui.New(a, gui.Options{
		Machine:    machine,
		Paths:      p,
		Host:       settings.ThisHost(),
		Login:      autostart.At{},
		LoginEntry: autostart.Entry{Exe: berth, Args: []string{"gui", "--hidden"}},
		Contexts:   dockerctx.DefaultStore(),
		MissingCLI: dockerctx.MissingCLI(runtime.GOOS, dockerctx.Berth, exec.LookPath),
		Log:        log,
		Tray:       hasTray(),
		Probe:      os.Getenv("BERTH_GUI_PROBE"),
	})
	if *hidden {
		go func() {
			if err := machine.Start(context.Background()); err != nil {
				log.Error("start at login", "err", err)
			}
		}()
	}
	u.Start(!*hidden)
	a.Run()
	u.Stop()
	return nil
}

// cliBinary is the berth CLI installed beside this program; it runs the
// daemon.
func cliBinary() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	exe, _ = filepath.EvalSymlinks(exe)
	name := "berth"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	berth := filepath.Join(filepath.Dir(exe), name)
	if _, err := os.Stat(berth); err != nil {
		return "", fmt.Errorf("the berth command is not beside %s: reinstall Berth, or build both with `make`", exe)
	}
	return berth, nil
}
