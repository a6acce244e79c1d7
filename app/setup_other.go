//go:build !windows

package main

import "fmt"

func cmdSetup(args []string) error {
	if err := newFlags("setup").Parse(args); err != nil {
		return err
	}
	fmt.Println("Nothing to set up on this system: `berth start` does everything.")
	return nil
}
