package winsetup

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"

	"github.com/berthvm/berth/vmhost/hyperv"
)

// Calls golang.org/x/sys/windows does not wrap.
var (
	netapi32                        = windows.NewLazySystemDLL("netapi32.dll")
	procNetLocalGroupAddMembers     = netapi32.NewProc("NetLocalGroupAddMembers")
	wtsapi32                        = windows.NewLazySystemDLL("wtsapi32.dll")
	procWTSQuerySessionInformationW = wtsapi32.NewProc("WTSQuerySessionInformationW")
	user32                          = windows.NewLazySystemDLL("user32.dll")
	procSendMessageTimeoutW         = user32.NewProc("SendMessageTimeoutW")
)

const (
	// WTS_INFO_CLASS values (wtsapi32.h).
	wtsUserName   = 5
	wtsDomainName = 7

	hwndBroadcast   = 0xffff
	wmSettingChange = 0x001a
	smtoAbortIfHung = 0x0002
	broadcastMillis = 5000

	// The machine's environment, which every sign-in reads
	// (learn.microsoft.com/windows/win32/procthread/environment-variables).
	envKey = `SYSTEM\CurrentControlSet\Control\Session Manager\Environment`
)

// Windows is System on Windows.
type Windows struct{}

// RegisterServices registers Berth's Hyper-V socket services.
func (Windows) RegisterServices() error { return hyperv.RegisterServices() }

// UnregisterServices removes them.
func (Windows) UnregisterServices() error { return hyperv.UnregisterServices() }

// ProcessUser is the user of this process's token.
func (Windows) ProcessUser() (Account, error) {
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return Account{}, err
	}
	name, domain, _, err := tu.User.Sid.LookupAccount("")
	return Account{Domain: domain, Name: name}, err
}

// SessionUser asks Remote Desktop Services who is signed in to the session
// this process runs in (ProcessIdToSessionId, then
// WTSQuerySessionInformation's WTSUserName and WTSDomainName;
// learn.microsoft.com/windows/win32/api/wtsapi32/nf-wtsapi32-wtsquerysessioninformationw).
// An elevated installer keeps the session of the user who started it, also
// when over-the-shoulder UAC made it run as an administrator's account, so
// the session names the user Berth is for while the process token names
// the administrator. podman (pkg/machine/hyperv/hutil.go) adds
// os/user.Current, the token's user, because podman elevates itself for
// the user already signed in; an installer cannot assume that. The token
// of the session's explorer.exe would also name the user, but needs a
// process to be found by name (a replaced shell, or a second Explorer run
// as another account, breaks it); the session's user is one documented
// call. Session 0 (a deployment tool running the installer as SYSTEM)
// has no user: WTSUserName is "".
func (Windows) SessionUser() (Account, error) {
	var session uint32
	if err := windows.ProcessIdToSessionId(windows.GetCurrentProcessId(), &session); err != nil {
		return Account{}, fmt.Errorf("ProcessIdToSessionId: %w", err)
	}
	name, err := sessionString(session, wtsUserName)
	if err != nil {
		return Account{}, err
	}
	domain, err := sessionString(session, wtsDomainName)
	if err != nil {
		return Account{}, err
	}
	return Account{Domain: domain, Name: name}, nil
}

func sessionString(session uint32, class uintptr) (string, error) {
	var buf *uint16
	var n uint32
	r, _, err := procWTSQuerySessionInformationW.Call(0, // WTS_CURRENT_SERVER_HANDLE
		uintptr(session), class, uintptr(unsafe.Pointer(&buf)), uintptr(unsafe.Pointer(&n)))
	if r == 0 {
		return "", fmt.Errorf("WTSQuerySessionInformation(session %d, class %d): %w", session, class, err)
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(buf)))
	return windows.UTF16PtrToString(buf), nil
}

// HyperVAdminsGroup looks the group's name up from its well-known SID: it
// is translated ("Hyper-V-Administratoren" on a German Windows), and
// NetLocalGroupAddMembers takes a name.
func (Windows) HyperVAdminsGroup() (string, error) {
	sid, err := windows.CreateWellKnownSid(windows.WinBuiltinHyperVAdminsSid)
	if err != nil {
		return "", err
	}
	name, _, _, err := sid.LookupAccount("")
	return name, err
}

// localGroupMembersInfo0 is LOCALGROUP_MEMBERS_INFO_0: level 0 adds by SID.
type localGroupMembersInfo0 struct{ sid *windows.SID }

// AddGroupMember adds a to the local group (NetLocalGroupAddMembers,
// level 0, as podman and hcsshim do); the status comes back as an Errno.
func (Windows) AddGroupMember(group string, a Account) error {
	sid, _, _, err := windows.LookupSID("", a.String())
	if err != nil {
		return fmt.Errorf("look up the account %s: %w", a, err)
	}
	g, err := windows.UTF16PtrFromString(group)
	if err != nil {
		return err
	}
	info := localGroupMembersInfo0{sid: sid}
	r, _, _ := procNetLocalGroupAddMembers.Call(0, uintptr(unsafe.Pointer(g)), 0, uintptr(unsafe.Pointer(&info)), 1)
	if r != 0 {
		return windows.Errno(r)
	}
	return nil
}

// SystemPath reads Path unexpanded (GetStringValue does not expand
// REG_EXPAND_SZ), so %SystemRoot% entries are written back as they were.
func (Windows) SystemPath() (string, bool, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, envKey, registry.QUERY_VALUE)
	if err != nil {
		return "", false, err
	}
	defer k.Close()
	v, typ, err := k.GetStringValue("Path")
	if errors.Is(err, registry.ErrNotExist) {
		return "", true, nil
	}
	return v, typ == registry.EXPAND_SZ, err
}

// SetSystemPath writes the system Path (REG_EXPAND_SZ when expand).
func (Windows) SetSystemPath(v string, expand bool) error {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, envKey, registry.SET_VALUE)
	if err != nil {
		return err
	}
	defer k.Close()
	if expand {
		return k.SetExpandStringValue("Path", v)
	}
	return k.SetStringValue("Path", v)
}

// BroadcastEnvironment sends WM_SETTINGCHANGE with "Environment" to every
// top-level window, as the Environment Variables docs ask after a change
// in the registry; SMTO_ABORTIFHUNG skips hung windows rather than waiting
// on them.
func (Windows) BroadcastEnvironment() error {
	env, err := windows.UTF16PtrFromString("Environment")
	if err != nil {
		return err
	}
	var result uintptr
	r, _, err := procSendMessageTimeoutW.Call(hwndBroadcast, wmSettingChange, 0, uintptr(unsafe.Pointer(env)),
		smtoAbortIfHung, broadcastMillis, uintptr(unsafe.Pointer(&result)))
	if r == 0 {
		return fmt.Errorf("SendMessageTimeout(WM_SETTINGCHANGE): %w", err)
	}
	return nil
}
