// Package hypervrights tells whether this process may drive Hyper-V, and
// when it may not, exactly what the user must do. It runs before anything
// touches WMI, so a user outside the group gets one clear message instead
// of a WMI access error, and nothing (no VM, no disk) is made first.
//
// The rules, from Microsoft's documentation and podman's Hyper-V machine
// (pkg/machine/hyperv/hutil.go):
//   - Hyper-V's WMI provider serves members of Hyper-V Administrators
//     (well-known SID S-1-5-32-578) and administrators; anyone else is
//     refused ("Hyper-V Administrators" in "Active Directory security
//     groups", learn.microsoft.com).
//   - Under UAC an administrator's ordinary token carries Administrators as
//     deny-only (the filtered token): being an administrator helps only in
//     an elevated process ("How User Account Control works").
//   - Group membership is read into the token at sign-in: a user added to
//     the group is a member only after signing out and in again (podman
//     tells its users the same).
package hypervrights

import (
	"errors"
	"fmt"
)

// GroupSID is Hyper-V Administrators' well-known SID; the group's name is
// localized, its SID is not.
const GroupSID = "S-1-5-32-578"

// Token is what the process token and the account database say of this
// user.
type Token struct {
	User string // DOMAIN\name, for the messages
	// InGroup: the token holds Hyper-V Administrators (enabled).
	InGroup bool
	// Elevated: an elevated administrator's token (Administrators enabled).
	Elevated bool
	// FilteredAdmin: Administrators is in the token as deny-only: an
	// administrator running unelevated.
	FilteredAdmin bool
	// GroupInDatabase: the account database lists the user in the group
	// (directly or through another group). Unknown when Lookup failed.
	GroupInDatabase bool
	LookupErr       error
}

// ErrNoRights is what every refusal wraps, so callers can tell it from a
// Hyper-V failure.
var ErrNoRights = errors.New("no Hyper-V rights")

// Verdict is nil when t may drive Hyper-V, else an error saying what to do.
func Verdict(t Token) error {
	if t.InGroup || t.Elevated {
		return nil
	}
	user := t.User
	if user == "" {
		user = "this account"
	}
	if t.GroupInDatabase {
		return fmt.Errorf("%w: %s was added to the Hyper-V Administrators group after signing in to Windows, and the group counts only from the next sign-in: sign out of Windows and back in, then start Berth again", ErrNoRights, user)
	}
	add := fmt.Sprintf("run Berth's installer again (it adds the user who runs it), or in an administrator PowerShell: Add-LocalGroupMember -SID %s -Member '%s'; then sign out of Windows and back in", GroupSID, user)
	if t.FilteredAdmin {
		return fmt.Errorf("%w: Berth drives Hyper-V, which needs the Hyper-V Administrators group, and %s is not in it (being an administrator counts only in an elevated terminal, and Berth runs as you, unelevated): %s", ErrNoRights, user, add)
	}
	return fmt.Errorf("%w: Berth drives Hyper-V, which needs the Hyper-V Administrators group, and %s is not in it: ask an administrator to %s", ErrNoRights, user, add)
}
