package vz

import (
	"errors"
	"fmt"
)

// verdict turns the framework's answer to Validate into an error: it may
// say false without saying why.
func verdict(ok bool, err error) error {
	switch {
	case err != nil:
		return fmt.Errorf("the Virtualization framework refused the machine: %w", err)
	case !ok:
		return errors.New("the Virtualization framework refused the machine (no reason given)")
	}
	return nil
}
