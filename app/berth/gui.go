package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// cmdGUI runs berth-gui, installed beside this binary: the window lives in
// its own program so the CLI and the daemon need no OpenGL.
func cmdGUI(args []string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	exe, _ = filepath.EvalSymlinks(exe)
	name := "berth-gui"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	gui := filepath.Join(filepath.Dir(exe), name)
	if _, err := os.Stat(gui); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("the GUI (%s) is not installed beside berth: build it with `make`, or use the CLI commands (`berth help`)", gui)
	}
	return runInstead(gui, args)
}

// canShowGUI tells whether a bare `berth` should open the window: on Linux
// only with a display to open it on.
func canShowGUI() bool {
	return runtime.GOOS != "linux" || os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != ""
}
