package hyperv

import "fmt"

// hostChecks are what must hold before a backend is made, in the order they
// run: the user's rights first, so that a user outside Hyper-V
// Administrators is told so instead of getting WMI's access error, then
// Hyper-V itself, then the socket services' registration.
type hostChecks struct {
	rights  func() error    // hypervrights.Check
	wmi     func() error    // any WMI call
	missing func() []string // service IDs not registered
}

func (c hostChecks) run() error {
	if err := c.rights(); err != nil {
		return err
	}
	if err := c.wmi(); err != nil {
		return fmt.Errorf("Hyper-V is not usable (turn the Hyper-V feature on and restart Windows): %w", err)
	}
	if missing := c.missing(); len(missing) > 0 {
		return fmt.Errorf("%d of Berth's Hyper-V socket services are not registered (the first: %s): run Berth's installer again, or `berth setup` once in an administrator terminal", len(missing), missing[0])
	}
	return nil
}
