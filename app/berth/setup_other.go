//go:build !windows

package main

import "fmt"

func cmdSetup(args []string) error {
	fs := newFlags("setup")
	fs.Bool("undo", false, "undo the setup (nothing to undo on this system)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Println("Nothing to set up on this system: `berth start` does everything.")
	return nil
}
