package winsetup

import (
	"errors"
	"strings"
	"syscall"
	"testing"
)

// fakeWindows follows the rules of the calls System stands for:
//   - the process's token user and the session's user are separate facts
//     (over-the-shoulder UAC runs the installer as another account);
//   - session 0 has no user: WTSQuerySessionInformation gives "" for
//     WTSUserName;
//   - NetLocalGroupAddMembers adds by SID to the group named in the
//     system's language, and answers ERROR_MEMBER_IN_ALIAS (1378) for a
//     member, NERR_GroupNotFound (2220) for another group name;
//   - the Path is a registry value with a type, REG_EXPAND_SZ on a stock
//     Windows.
type fakeWindows struct {
	process, session Account
	group            string          // the local name of S-1-5-32-578
	members          map[string]bool // DOMAIN\name, lower case
	path             string          // HKLM ...\Session Manager\Environment, Path
	expand           bool            // its type is REG_EXPAND_SZ
	registered       bool            // Hyper-V socket services
	broadcasts       int
	broadcastErr     error
	addErr           error
	calls            []string
}

func newFake() *fakeWindows {
	return &fakeWindows{
		process: Account{"PC", "admin"}, session: Account{"PC", "ann"},
		group: "Hyper-V-Administratoren", members: map[string]bool{},
		path: `%SystemRoot%\system32;%SystemRoot%`, expand: true,
	}
}

func (f *fakeWindows) RegisterServices() error       { f.registered = true; return nil }
func (f *fakeWindows) UnregisterServices() error     { f.registered = false; return nil }
func (f *fakeWindows) ProcessUser() (Account, error) { return f.process, nil }
func (f *fakeWindows) SessionUser() (Account, error) { return f.session, nil }
func (f *fakeWindows) HyperVAdminsGroup() (string, error) {
	return f.group, nil
}

func (f *fakeWindows) AddGroupMember(group string, a Account) error {
	f.calls = append(f.calls, "add "+a.String()+" to "+group)
	if f.addErr != nil {
		return f.addErr
	}
	if group != f.group {
		return syscall.Errno(2220) // NERR_GroupNotFound
	}
	key := strings.ToLower(a.String())
	if f.members[key] {
		return syscall.Errno(1378)
	}
	f.members[key] = true
	return nil
}

func (f *fakeWindows) SystemPath() (string, bool, error) { return f.path, f.expand, nil }
func (f *fakeWindows) SetSystemPath(v string, expand bool) error {
	f.path, f.expand = v, expand
	return nil
}
func (f *fakeWindows) BroadcastEnvironment() error { f.broadcasts++; return f.broadcastErr }

func TestSetupAddsTheSignedInUserNotTheElevatingAdmin(t *testing.T) {
	f := newFake()
	var out strings.Builder
	status, err := Setup(f, bin, &out)
	if err != nil {
		t.Fatal(err)
	}
	if status != ExitSignOut {
		t.Errorf("status %d, want %d (sign out)", status, ExitSignOut)
	}
	if !f.members[`pc\ann`] || f.members[`pc\admin`] {
		t.Errorf("members %v: want the session's user PC\\ann only", f.members)
	}
	for _, want := range []string{`Added PC\ann to "Hyper-V-Administratoren" (setup ran as PC\admin)`, "Sign out"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if !f.registered {
		t.Error("services not registered")
	}
}

func TestSetupAgainNeedsNoSignOut(t *testing.T) {
	f := newFake()
	f.members[`pc\ann`] = true
	var out strings.Builder
	status, err := Setup(f, bin, &out)
	if err != nil || status != 0 {
		t.Fatalf("status %d, %v; want 0 for a member already", status, err)
	}
	if !strings.Contains(out.String(), "already") {
		t.Errorf("output: %s", out.String())
	}
}

func TestSetupInSessionZeroAddsNobody(t *testing.T) {
	f := newFake()
	f.process, f.session = Account{"NT AUTHORITY", "SYSTEM"}, Account{}
	var out strings.Builder
	status, err := Setup(f, bin, &out)
	if err != nil || status != 0 {
		t.Fatalf("status %d, %v", status, err)
	}
	if len(f.calls) != 0 {
		t.Errorf("added someone with no one signed in: %v", f.calls)
	}
	if !strings.Contains(out.String(), "S-1-5-32-578") {
		t.Errorf("output should name the group's SID for the administrator: %s", out.String())
	}
}

func TestSetupFailureKeepsTheOtherSteps(t *testing.T) {
	f := newFake()
	f.addErr = syscall.Errno(5) // ERROR_ACCESS_DENIED: not elevated
	var out strings.Builder
	status, err := Setup(f, bin, &out)
	if err == nil || status != 0 {
		t.Fatalf("status %d, %v; want an error", status, err)
	}
	if !errors.Is(err, syscall.Errno(5)) || !strings.Contains(err.Error(), "Computer Management") {
		t.Errorf("error should wrap the status and say what to do: %v", err)
	}
	if !f.registered || !strings.HasSuffix(f.path, bin) {
		t.Errorf("services %v, Path %q: the other steps should be done", f.registered, f.path)
	}
}

func TestSetupPathOnceAndBroadcast(t *testing.T) {
	f := newFake()
	var out strings.Builder
	for range 2 {
		if _, err := Setup(f, bin, &out); err != nil {
			t.Fatal(err)
		}
	}
	if want := `%SystemRoot%\system32;%SystemRoot%;` + bin; f.path != want || !f.expand {
		t.Errorf("Path %q (expand %v), want %q as REG_EXPAND_SZ", f.path, f.expand, want)
	}
	if f.broadcasts != 1 {
		t.Errorf("%d broadcasts, want one, for the one change", f.broadcasts)
	}

	// A REG_SZ Path stays REG_SZ: its type is the user's, not Berth's.
	f = newFake()
	f.path, f.expand = `C:\Windows`, false
	Setup(f, bin, &out)
	if f.expand {
		t.Error("Path turned into REG_EXPAND_SZ")
	}
}

func TestSetupBroadcastFailureIsNoError(t *testing.T) {
	f := newFake()
	f.broadcastErr = syscall.Errno(1460) // ERROR_TIMEOUT
	var out strings.Builder
	if _, err := Setup(f, bin, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "sign out") {
		t.Errorf("output: %s", out.String())
	}
}

func TestSetupRefusesAnOverlongPath(t *testing.T) {
	f := newFake()
	f.path = strings.Repeat("x", MaxEnvValue-5)
	var out strings.Builder
	if _, err := Setup(f, bin, &out); err == nil || !strings.Contains(err.Error(), "32767") {
		t.Fatalf("err %v", err)
	}
	if len(f.path) != MaxEnvValue-5 {
		t.Error("Path written")
	}
}

func TestUndoKeepsGroupMembership(t *testing.T) {
	f := newFake()
	var out strings.Builder
	Setup(f, bin, &out)
	if err := Undo(f, bin, &out); err != nil {
		t.Fatal(err)
	}
	if f.registered || f.path != `%SystemRoot%\system32;%SystemRoot%` {
		t.Errorf("services %v, Path %q after undo", f.registered, f.path)
	}
	if !f.members[`pc\ann`] {
		t.Error("undo removed the user from Hyper-V Administrators")
	}
}
