package daemon

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthvm/berth/app/settings"
	"github.com/berthvm/berth/filesharing"
	"github.com/berthvm/berth/filesharing/fswatch"
	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/vmhost"
)

func TestShareSpecs(t *testing.T) {
	host, guest, err := shareSpecs("windows", []filesharing.Share{{HostPath: `C:\Users\me`}, {HostPath: `D:\data`, ReadOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	if host[1] != (vmhost.Share{Tag: "berth1", HostPath: `D:\data`, ReadOnly: true}) {
		t.Errorf("host side %+v", host)
	}
	if guest[0] != (protocol.Share{Tag: "berth0", Path: "/mnt/host/c/Users/me"}) || guest[1].Path != "/mnt/host/d/data" || !guest[1].ReadOnly {
		t.Errorf("guest side %+v", guest)
	}
}

// The guest's engine is always pointed at the gateway's proxy.
func TestGuestSetupTurnsOnTheEngineProxy(t *testing.T) {
	s := settings.Settings{ContainerLogMiB: protocol.DefaultContainerLogMiB, ContainerLogFiles: protocol.DefaultContainerLogFiles}
	_, line, err := guestSetup("linux", s, protocol.HostGatewayIP, vmhost.GuestFacts{Console: protocol.ConsoleUART}, time.Unix(1796094000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(line, "berth.proxy=3128") {
		t.Errorf("cmdline %q lacks berth.proxy=3128", line)
	}
}

func TestGuestChanges(t *testing.T) {
	ev, err := guestChanges("windows", []fswatch.Change{{Path: `C:\Users\me\src\a.go`, Mtime: 7}, {Path: `C:\Users\me\old`, Gone: true}})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Changes[0] != (protocol.FSChange{Path: "/mnt/host/c/Users/me/src/a.go", MtimeNanos: 7}) || ev.Changes[1] != (protocol.FSChange{Path: "/mnt/host/c/Users/me/old", Gone: true}) {
		t.Errorf("%+v", ev)
	}
}

// Berth's own directories inside a shared folder are left out of its file
// events; those outside it name nothing.
func TestWithinExcludesBerthsOwnDirectories(t *testing.T) {
	got := within("/home/u", []string{"/home/u/.local/share/berth", "/home/u/.config/berth", "/run/user/1000/berth", "/home/u", "/home/user2/x"})
	if want := []string{".local/share/berth", ".config/berth"}; !slices.Equal(got, want) {
		t.Fatalf("within: %q, want %q", got, want)
	}
	o := fswatch.Options{Exclude: got}
	if !o.Excluded(".local/share/berth") || o.Excluded(".local/share") || o.Excluded("src") {
		t.Fatal("the patterns do not exclude exactly Berth's directory")
	}
}
