// Package allusers stops every user's Berth on a Windows computer, for the
// installer before an upgrade or uninstall replaces berth.exe: each user's
// daemon is asked over its own control socket (which admits
// administrators) to stop the machine cleanly, so containers get their
// stop timeout and the data disk is not cut off.
package allusers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/app/settings"
)

// ProfileListKey lists the computer's user profiles under
// HKEY_LOCAL_MACHINE, one subkey per SID with its folder in
// ProfileImagePath.
const ProfileListKey = `SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList`

// Entry is one subkey of ProfileList as the registry holds it.
type Entry struct {
	Key       string // the profile's SID, e.g. S-1-5-21-…-1001
	ImagePath string // ProfileImagePath, unexpanded
	Expand    bool   // ProfileImagePath is REG_EXPAND_SZ (%SystemDrive%\Users\ann)
	Name      string // DOMAIN\name, or "" when the SID no longer resolves
}

// Profile is a person's profile folder.
type Profile struct {
	SID, Name, Dir string
}

// Who names the profile's user for a report.
func (p Profile) Who() string {
	if p.Name != "" {
		return p.Name
	}
	return p.SID
}

// personSID says whether a ProfileList key is a person's profile:
// S-1-5-21-… are local and Active Directory accounts, S-1-12-1-…
// Microsoft Entra ID accounts. The rest are services (S-1-5-18 SYSTEM,
// -19 LOCAL SERVICE, -20 NETWORK SERVICE), and a key ending in .bak is the
// copy Windows keeps when it signed a user in with a temporary profile: its
// folder is the same user's.
func personSID(key string) bool {
	return (strings.HasPrefix(key, "S-1-5-21-") || strings.HasPrefix(key, "S-1-12-1-")) &&
		!strings.HasSuffix(strings.ToLower(key), ".bak")
}

// Profiles turns ProfileList's entries into people's profile folders,
// expanding REG_EXPAND_SZ paths with expand (registry.ExpandString on
// Windows); a folder listed twice is kept once.
func Profiles(entries []Entry, expand func(string) (string, error)) ([]Profile, error) {
	var out []Profile
	var errs []error
	seen := map[string]bool{}
	for _, e := range entries {
		if !personSID(e.Key) || e.ImagePath == "" {
			continue
		}
		dir := e.ImagePath
		if e.Expand {
			var err error
			if dir, err = expand(dir); err != nil {
				errs = append(errs, fmt.Errorf("profile %s: expand %q: %w", e.Key, e.ImagePath, err))
				continue
			}
		}
		if seen[strings.ToLower(dir)] {
			continue
		}
		seen[strings.ToLower(dir)] = true
		out = append(out, Profile{SID: e.Key, Name: e.Name, Dir: dir})
	}
	return out, errors.Join(errs...)
}

// Outcomes that are not failures.
const (
	Stopped    = "stopped"
	NotRunning = "not running"
)

// Report is what happened to one user's Berth.
type Report struct {
	Profile Profile
	Outcome string // Stopped, NotRunning, "unreachable: …" or "stop failed: …"
}

// OK says whether that user's Berth no longer runs a machine.
func (r Report) OK() bool { return r.Outcome == Stopped || r.Outcome == NotRunning }

func (r Report) String() string {
	return fmt.Sprintf("%s (%s): %s", r.Profile.Who(), r.Profile.Dir, r.Outcome)
}

// Stopper stops users' machines.
type Stopper struct {
	// Probe bounds the status call that finds a daemon; Stop bounds the
	// clean stop (containers' stop timeouts, then the guest's shutdown).
	Probe, Stop time.Duration
}

// DefaultStopper waits as long as `berth stop` would.
var DefaultStopper = Stopper{Probe: 5 * time.Second, Stop: 3 * time.Minute}

// StopAll stops the machine of every profile that has a Berth folder, all
// at once (each waits on its own guest), and reports on each in the
// profiles' order. Profiles without one never ran Berth and are left out.
func (s Stopper) StopAll(ctx context.Context, profiles []Profile) []Report {
	var reports []Report
	for _, p := range profiles {
		if _, err := os.Stat(settings.WindowsProfilePaths(p.Dir).Data); err == nil {
			reports = append(reports, Report{Profile: p})
		}
	}
	var wg sync.WaitGroup
	for i := range reports {
		wg.Go(func() {
			reports[i].Outcome = s.stopOne(ctx, settings.WindowsProfilePaths(reports[i].Profile.Dir))
		})
	}
	wg.Wait()
	return reports
}

// stopOne stops the machine of the daemon at p's control socket.
func (s Stopper) stopOne(ctx context.Context, p settings.Paths) string {
	sock := p.ControlSocket()
	if _, err := os.Stat(sock); errors.Is(err, fs.ErrNotExist) {
		return NotRunning
	}
	c := control.NewClient(sock)
	pctx, cancel := context.WithTimeout(ctx, s.Probe)
	st, err := c.Status(pctx)
	cancel()
	switch {
	case err != nil && refused(err):
		// The socket of a daemon that ended without removing it.
		return NotRunning
	case err != nil && denied(err):
		return fmt.Sprintf("unreachable: %v (run as administrator)", err)
	case err != nil:
		return fmt.Sprintf("unreachable: %v", err)
	case st.State == control.Stopped:
		return NotRunning
	}
	sctx, cancel := context.WithTimeout(ctx, s.Stop)
	defer cancel()
	if err := c.Stop(sctx, false); err != nil {
		return fmt.Sprintf("stop failed: %v", err)
	}
	return Stopped
}
