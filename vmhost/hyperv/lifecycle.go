package hyperv

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berthvm/berth/vmhost"
)

// startSteps are what starting a machine asks of Hyper-V, in order. WMI
// has no transaction: DefineSystem creates the VM before its disks are
// added, so a define that fails half way leaves a VM behind, as does any
// later step that fails. run removes it then, so the next start does not
// trip over a machine without disks.
type startSteps struct {
	define  func() error // the VM and its disks
	console func() error // COM 1 to its pipe
	links   func() error // the Hyper-V sockets, served until stopLinks
	boot    func() error
	// stopLinks ends what links serves; remove turns off and deletes what
	// define made, if anything.
	stopLinks func()
	remove    func() error
}

func (s startSteps) run() error {
	if err := s.define(); err != nil {
		return s.undo(fmt.Errorf("define: %w", err))
	}
	if err := s.console(); err != nil {
		return s.undo(fmt.Errorf("console: %w", err))
	}
	if err := s.links(); err != nil {
		return s.undo(err)
	}
	if err := s.boot(); err != nil {
		s.stopLinks()
		return s.undo(err)
	}
	return nil
}

func (s startSteps) undo(err error) error {
	if rerr := s.remove(); rerr != nil {
		return errors.Join(err, fmt.Errorf("and removing the half-made VM failed (delete it in Hyper-V Manager): %w", rerr))
	}
	return err
}

// waitStopped polls state until the VM is off (or gone), ctx ends or
// limit passes, whichever comes first; then it says what it saw last.
func waitStopped(ctx context.Context, state func(context.Context) (vmhost.State, error), every, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	t := time.NewTicker(every)
	defer t.Stop()
	var last vmhost.State
	var lastErr error
	for {
		s, err := state(ctx)
		if err == nil && (s == vmhost.Stopped || s == vmhost.NotFound) {
			return nil
		}
		last, lastErr = s, err
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("not off after %s: %w", limit, lastErr)
			}
			return fmt.Errorf("still %s %s after it was turned off: Hyper-V's worker for it may hang (see Hyper-V Manager)", last, limit)
		case <-t.C:
		}
	}
}
