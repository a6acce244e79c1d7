package main

import (
	"fmt"

	"github.com/berthvm/berth/vmhost/hyperv"
)

// cmdSetup registers the Hyper-V socket services the VM dials; Windows
// lets only an administrator do that, once per machine.
func cmdSetup(args []string) error {
	if err := newFlags("setup").Parse(args); err != nil {
		return err
	}
	if err := hyperv.RegisterServices(); err != nil {
		return err
	}
	fmt.Println("Berth's Hyper-V socket services are registered; `berth start` works from a normal terminal now.")
	return nil
}
