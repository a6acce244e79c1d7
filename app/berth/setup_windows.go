package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/berthvm/berth/app/winsetup"
)

// cmdSetup does the one-time steps that need an administrator: the Hyper-V
// socket services the VM dials, Berth's bin folder on the system Path, and
// the signed-in user in Hyper-V Administrators. The installer runs it
// elevated, and --undo when uninstalling; its exit status 10
// (winsetup.ExitSignOut) means the user must sign out and in first.
func cmdSetup(args []string) error {
	fs := newFlags("setup")
	undo := fs.Bool("undo", false, "remove the service registration and the Path entry (what uninstalling Berth does)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find berth.exe's folder: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	bin := filepath.Dir(exe)
	if *undo {
		return winsetup.Undo(winsetup.Windows{}, bin, os.Stdout)
	}
	status, err := winsetup.Setup(winsetup.Windows{}, bin, os.Stdout)
	if err != nil {
		return err
	}
	if status != 0 {
		return exitStatus(status)
	}
	fmt.Println("Berth is set up; `berth start` works from a normal terminal.")
	return nil
}
