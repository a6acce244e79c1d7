package hypervrights

import (
	"errors"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Check reads this process's token and the account database and returns
// Verdict's answer.
func Check() error { return Verdict(read()) }

func read() Token {
	var t Token
	tok := windows.GetCurrentProcessToken()
	if tu, err := tok.GetTokenUser(); err == nil {
		if name, dom, _, err := tu.User.Sid.LookupAccount(""); err == nil {
			t.User = dom + `\` + name
		}
	}
	group, _ := windows.StringToSid(GroupSID)
	admins, _ := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	// Token(0) is the calling thread's own token, which is what
	// CheckTokenMembership needs: it honours deny-only groups.
	t.InGroup, _ = windows.Token(0).IsMember(group)
	t.Elevated = tok.IsElevated()
	if gs, err := tok.GetTokenGroups(); err == nil {
		for _, g := range gs.AllGroups() {
			if g.Sid.Equals(admins) && g.Attributes&windows.SE_GROUP_USE_FOR_DENY_ONLY != 0 {
				t.FilteredAdmin = true
			}
		}
	}
	if !t.InGroup {
		t.GroupInDatabase, t.LookupErr = inGroupDatabase(t.User, group)
	}
	return t
}

var (
	netapi32                  = windows.NewLazySystemDLL("netapi32.dll")
	procNetUserGetLocalGroups = netapi32.NewProc("NetUserGetLocalGroups")
	procNetAPIBufferFree      = netapi32.NewProc("NetApiBufferFree")
)

// lgIncludeIndirect also lists local groups the user is in through a
// global group (NetUserGetLocalGroups' LG_INCLUDE_INDIRECT).
const lgIncludeIndirect = 1

// inGroupDatabase asks the account database (not the token) whether user
// is in the local group whose SID is group, by its localized name.
func inGroupDatabase(user string, group *windows.SID) (bool, error) {
	if user == "" || group == nil {
		return false, errors.New("unknown user or group")
	}
	groupName, _, _, err := group.LookupAccount("")
	if err != nil {
		return false, err
	}
	u, err := windows.UTF16PtrFromString(user)
	if err != nil {
		return false, err
	}
	var buf *byte
	var read, total uint32
	r, _, _ := procNetUserGetLocalGroups.Call(0, uintptr(unsafe.Pointer(u)), 0, lgIncludeIndirect,
		uintptr(unsafe.Pointer(&buf)), 0xFFFFFFFF, uintptr(unsafe.Pointer(&read)), uintptr(unsafe.Pointer(&total)))
	if buf != nil {
		defer procNetAPIBufferFree.Call(uintptr(unsafe.Pointer(buf))) //nolint:errcheck // frees a buffer; nothing to do if it fails
	}
	if r != 0 {
		return false, windows.Errno(r)
	}
	// LOCALGROUP_USERS_INFO_0: one LPWSTR per group.
	names := unsafe.Slice((**uint16)(unsafe.Pointer(buf)), read)
	for _, n := range names {
		if strings.EqualFold(windows.UTF16PtrToString(n), groupName) {
			return true, nil
		}
	}
	return false, nil
}
