// Package winsetup is `berth setup` on Windows: the one-time steps that
// need an administrator, run by the installer (elevated) and undone by the
// uninstaller. The steps' decisions are here, pure; the Windows calls sit
// behind System (system_windows.go), so tests run them against a fake.
package winsetup

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/berthvm/berth/internal/hypervrights"
)

// ExitSignOut is the exit status of `berth setup` when it added the
// signed-in user to Hyper-V Administrators: Windows puts a user's groups
// in the token at sign-in, so the membership counts only after the user
// signs out and in again. The installer (berth.nsi) tells the user so.
const ExitSignOut = 10

// errMemberInAlias is ERROR_MEMBER_IN_ALIAS (1378), what
// NetLocalGroupAddMembers returns when the account is in the group already
// (learn.microsoft.com/windows/win32/api/lmaccess/nf-lmaccess-netlocalgroupaddmembers).
const errMemberInAlias = syscall.Errno(1378)

// Account is a Windows account as DOMAIN\name (the computer's name is the
// domain of a local account).
type Account struct{ Domain, Name string }

func (a Account) String() string {
	if a.Domain == "" {
		return a.Name
	}
	return a.Domain + `\` + a.Name
}

// System is what setup asks of Windows.
type System interface {
	// RegisterServices and UnregisterServices add and remove the Hyper-V
	// socket services (vmhost/hyperv).
	RegisterServices() error
	UnregisterServices() error
	// ProcessUser is the account this process runs as: with
	// over-the-shoulder UAC, an administrator who is not the user.
	ProcessUser() (Account, error)
	// SessionUser is the account signed in to the Windows session this
	// process runs in; its Name is "" when no one is (session 0, where
	// deployment tools run installers as SYSTEM).
	SessionUser() (Account, error)
	// HyperVAdminsGroup is the local name of the group with the SID
	// S-1-5-32-578, in the system's language.
	HyperVAdminsGroup() (string, error)
	// AddGroupMember is NetLocalGroupAddMembers: its error is the
	// function's status as a syscall.Errno.
	AddGroupMember(group string, a Account) error
	// SystemPath reads the machine's Path and whether it is REG_EXPAND_SZ
	// (a missing value reads as "", true).
	SystemPath() (value string, expand bool, err error)
	SetSystemPath(value string, expand bool) error
	// BroadcastEnvironment tells running programs (Explorer first) that
	// the environment changed, so that terminals opened next see the Path.
	BroadcastEnvironment() error
}

// Setup does the steps in order and says what it did on out. It returns
// the process's exit status: 0, or ExitSignOut when the user must sign out
// and in before Berth works; an error means a step failed (the other steps
// are still done).
func Setup(sys System, binDir string, out io.Writer) (int, error) {
	var errs []error
	if err := sys.RegisterServices(); err != nil {
		errs = append(errs, err)
	} else {
		fmt.Fprintln(out, "Berth's Hyper-V socket services are registered.")
	}
	if err := editPath(sys, binDir, out, AddDir); err != nil {
		errs = append(errs, err)
	}
	status, err := addUser(sys, out)
	if err != nil {
		errs = append(errs, err)
	}
	return status, errors.Join(errs...)
}

// Undo removes what Setup added, except group membership: the user may
// have been in Hyper-V Administrators before Berth (podman and Docker
// Desktop add users too, and administrators add them by hand), and setup
// cannot tell, so taking it away could break someone else's tools.
func Undo(sys System, binDir string, out io.Writer) error {
	var errs []error
	if err := sys.UnregisterServices(); err != nil {
		errs = append(errs, err)
	} else {
		fmt.Fprintln(out, "Berth's Hyper-V socket services are unregistered.")
	}
	if err := editPath(sys, binDir, out, RemoveDir); err != nil {
		errs = append(errs, err)
	}
	fmt.Fprintln(out, "Membership of Hyper-V Administrators stays as it is: remove users from it in Computer Management if no other tool needs it.")
	return errors.Join(errs...)
}

// editPath applies edit to the system Path for binDir, writing it back
// (in its own registry type: REG_EXPAND_SZ keeps %SystemRoot% entries
// working) only when it changed.
func editPath(sys System, binDir string, out io.Writer, edit func(v, dir string) (string, bool)) error {
	cur, expand, err := sys.SystemPath()
	if err != nil {
		return fmt.Errorf("read the system Path: %w", err)
	}
	next, changed := edit(cur, binDir)
	if !changed {
		return nil
	}
	if len([]rune(next)) > MaxEnvValue {
		return fmt.Errorf("the system Path would be %d characters long, over Windows's %d: remove unused folders from it (System Properties → Environment Variables), then run setup again", len([]rune(next)), MaxEnvValue)
	}
	if err := sys.SetSystemPath(next, expand); err != nil {
		return fmt.Errorf("write the system Path (run as administrator): %w", err)
	}
	if len(next) > len(cur) {
		fmt.Fprintf(out, "Added %s to the system Path: new terminals find berth and docker.\n", binDir)
	} else {
		fmt.Fprintf(out, "Removed %s from the system Path.\n", binDir)
	}
	// A program that does not answer the broadcast only misses the news;
	// the Path is written, and every sign-in reads it.
	if err := sys.BroadcastEnvironment(); err != nil {
		fmt.Fprintf(out, "Not every running program heard of the new Path (%v): terminals opened from them see it after you sign out and in.\n", err)
	}
	return nil
}

// addUser adds the user signed in to this session, not the account this
// elevated process runs as, to Hyper-V Administrators: with
// over-the-shoulder UAC those differ, and it is the signed-in user whose
// unelevated daemon calls Hyper-V.
func addUser(sys System, out io.Writer) (int, error) {
	user, err := sys.SessionUser()
	if err != nil {
		return 0, fmt.Errorf("find the user signed in to this session: %w", err)
	}
	group, err := sys.HyperVAdminsGroup()
	if err != nil {
		return 0, fmt.Errorf("look up the Hyper-V Administrators group (%s): %w", hypervrights.GroupSID, err)
	}
	if user.Name == "" {
		fmt.Fprintf(out, "No one is signed in to this session (an installer run by a deployment tool?): add each user of Berth to the local group %q (%s) yourself; it counts from their next sign-in.\n", group, hypervrights.GroupSID)
		return 0, nil
	}
	err = sys.AddGroupMember(group, user)
	switch {
	case errors.Is(err, errMemberInAlias):
		fmt.Fprintf(out, "%s is in %q already.\n", user, group)
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("add %s to the local group %q (%s), which Berth needs to run Hyper-V VMs without elevation: %w; an administrator can add them in Computer Management → Local Users and Groups", user, group, hypervrights.GroupSID, err)
	}
	by := ""
	if me, err := sys.ProcessUser(); err == nil && !strings.EqualFold(me.String(), user.String()) {
		by = fmt.Sprintf(" (setup ran as %s)", me)
	}
	fmt.Fprintf(out, "Added %s to %q%s. Sign out of Windows and sign in again before starting Berth: the membership counts from the next sign-in.\n", user, group, by)
	return ExitSignOut, nil
}
