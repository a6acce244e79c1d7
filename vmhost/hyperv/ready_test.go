package hyperv

import (
	"errors"
	"strings"
	"testing"

	"github.com/berthvm/berth/internal/hypervrights"
)

// A user outside Hyper-V Administrators is told so before any WMI call:
// WMI would only answer "access denied".
func TestRightsAreCheckedBeforeWMI(t *testing.T) {
	wmiCalled := false
	err := hostChecks{
		rights:  func() error { return hypervrights.Verdict(hypervrights.Token{User: `PC\bob`}) },
		wmi:     func() error { wmiCalled = true; return errors.New("Access denied") },
		missing: func() []string { return nil },
	}.run()
	if !errors.Is(err, hypervrights.ErrNoRights) || wmiCalled {
		t.Fatalf("err %v, WMI called: %v", err, wmiCalled)
	}
	err = hostChecks{
		rights:  func() error { return nil },
		wmi:     func() error { return nil },
		missing: func() []string { return []string{ServiceID(ConfigPort)} },
	}.run()
	if err == nil || !strings.Contains(err.Error(), "berth setup") {
		t.Fatalf("missing services: %v", err)
	}
}
