package main

import (
	"fmt"

	"github.com/berthvm/berth/vmhost/hyperv"
)

// cmdSetup registers the Hyper-V socket services the VM dials; Windows
// lets only an administrator do that, once per machine. The installer
// runs it, and --undo when uninstalling, so the service IDs live here only.
func cmdSetup(args []string) error {
	fs := newFlags("setup")
	undo := fs.Bool("undo", false, "remove the registration (what uninstalling Berth does)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *undo {
		if err := hyperv.UnregisterServices(); err != nil {
			return err
		}
		fmt.Println("Berth's Hyper-V socket services are unregistered.")
		return nil
	}
	if err := hyperv.RegisterServices(); err != nil {
		return err
	}
	fmt.Println("Berth's Hyper-V socket services are registered; `berth start` works from a normal terminal now.")
	return nil
}
