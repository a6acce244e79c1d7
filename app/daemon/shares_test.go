package daemon

import (
	"strings"
	"testing"

	"github.com/berthvm/berth/filesharing"
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

func TestKernelCmdline(t *testing.T) {
	g := protocol.DefaultOptions()
	g.Shares = []protocol.Share{{Tag: "berth0", Path: "/home/me/my projects"}}
	line, err := kernelCmdline(g)
	if err != nil || line != "console=ttyS0 quiet panic=-1 no_timer_check berth.share=berth0,rw,/home/me/my%20projects" {
		t.Fatalf("%q %v", line, err)
	}
	for i := range 40 {
		g.Shares = append(g.Shares, protocol.Share{Tag: "t" + strings.Repeat("x", i), Path: "/" + strings.Repeat("long-folder-name/", 4) + strings.Repeat("y", i)})
	}
	if _, err := kernelCmdline(g); err == nil || !strings.Contains(err.Error(), "do not fit") {
		t.Fatalf("an overlong command line: %v", err)
	}
}
