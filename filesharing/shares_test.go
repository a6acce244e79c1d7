package filesharing

import (
	"reflect"
	"strings"
	"testing"
)

func TestDefaults(t *testing.T) {
	got := Defaults("linux", "/home/me", "/tmp")
	want := []Share{{HostPath: "/home/me"}, {HostPath: "/tmp"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("linux defaults %v", got)
	}
	if mac := Defaults("darwin", "/Users/me", "/var/folders/xy/T"); len(mac) != 5 || mac[0].HostPath != "/Users" {
		t.Fatalf("macOS defaults %v", mac)
	}
	if err := Validate("darwin", Defaults("darwin", "", "")); err != nil {
		t.Fatalf("macOS defaults invalid: %v", err)
	}
	win := Defaults("windows", `C:\Users\me`, `C:\Users\me\AppData\Local\Temp`)
	if len(win) != 1 || win[0].HostPath != `C:\Users\me` || Validate("windows", win) != nil {
		t.Fatalf("Windows defaults %v: the temp folder inside home is covered by home", win)
	}
}

func TestParseMount(t *testing.T) {
	for in, want := range map[string]Share{
		"/data":          {HostPath: "/data"},
		"/data:ro":       {HostPath: "/data", ReadOnly: true},
		"/data:rw":       {HostPath: "/data"},
		"/with:colon:ro": {HostPath: "/with:colon", ReadOnly: true},
	} {
		got, err := ParseMount("linux", in)
		if err != nil || got != want {
			t.Errorf("ParseMount(%q) = %+v, %v", in, got, err)
		}
	}
	if got, err := ParseMount("windows", `D:\src:ro`); err != nil || got != (Share{HostPath: `D:\src`, ReadOnly: true}) {
		t.Errorf("windows: %+v %v", got, err)
	}
	if got, err := ParseMount("windows", `D:\src`); err != nil || got.HostPath != `D:\src` {
		t.Errorf("windows without mode: %+v %v", got, err)
	}
	for _, bad := range []string{"/data:rox", ""} {
		if _, err := ParseMount("linux", bad); err == nil {
			t.Errorf("ParseMount(%q) accepted", bad)
		}
	}
}

func TestValidate(t *testing.T) {
	cases := map[string]struct {
		goos   string
		shares []Share
		want   string
	}{
		"root":     {"linux", []Share{{HostPath: "/"}}, "whole root"},
		"usr":      {"linux", []Share{{HostPath: "/usr/local/src"}}, "VM's own /usr"},
		"var":      {"linux", []Share{{HostPath: "/var"}}, "VM's own /var/lib"},
		"drive":    {"windows", []Share{{HostPath: `C:\`}}, "whole root"},
		"relative": {"linux", []Share{{HostPath: "src"}}, "absolute"},
		"twice":    {"linux", []Share{{HostPath: "/a"}, {HostPath: "/a/"}}, "twice"},
		"case":     {"windows", []Share{{HostPath: `C:\Src`}, {HostPath: `c:\src`}}, "twice"},
		"nested":   {"linux", []Share{{HostPath: "/home/me"}, {HostPath: "/home/me/src", ReadOnly: true}}, "inside"},
	}
	for name, c := range cases {
		if err := Validate(c.goos, c.shares); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", name, err, c.want)
		}
	}
	if err := Validate("linux", []Share{{HostPath: "/home/me"}, {HostPath: "/home/meow"}}); err != nil {
		t.Errorf("siblings with a common prefix are not nested: %v", err)
	}
}

func TestGuestPath(t *testing.T) {
	for _, c := range []struct{ goos, in, want string }{
		{"linux", "/home/me/src", "/home/me/src"},
		{"darwin", "/Users/me/../me/src/", "/Users/me/src"},
		{"windows", `C:\Users\me\src`, "/mnt/host/c/Users/me/src"},
		{"windows", `d:/work/x`, "/mnt/host/d/work/x"},
		{"windows", `C:\`, "/mnt/host/c"},
		{"windows", `C:\a\..\b`, "/mnt/host/c/b"},
	} {
		got, err := GuestPath(c.goos, c.in)
		if err != nil || got != c.want {
			t.Errorf("GuestPath(%s, %q) = %q, %v; want %q", c.goos, c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{`relative\x`, `\\server\share`, "/posix"} {
		if _, err := GuestPath("windows", bad); err == nil {
			t.Errorf("GuestPath(windows, %q) accepted", bad)
		}
	}
}

func TestCheckBind(t *testing.T) {
	posix := Policy{GOOS: "linux", Shares: []Share{{HostPath: "/home/me"}, {HostPath: "/tmp"}}}
	win := Policy{GOOS: "windows", Shares: []Share{{HostPath: `C:\Users\me`}}}
	ok := []struct {
		p        Policy
		in, want string
	}{
		{posix, "/home/me/src", "/home/me/src"},
		{posix, "/home/me", "/home/me"},
		{posix, "/tmp/x/../y", "/tmp/y"},
		{posix, "myvolume", "myvolume"},
		{posix, "/var/run/docker.sock", "/var/run/docker.sock"},
		{posix, "/proc/cpuinfo", "/proc/cpuinfo"},
		{win, `C:\Users\me\src`, "/mnt/host/c/Users/me/src"},
		{win, `c:\users\ME\src`, "/mnt/host/c/Users/me/src"},
		{win, "/var/run/docker.sock", "/var/run/docker.sock"},
		{win, "data", "data"},
	}
	for _, c := range ok {
		got, err := c.p.CheckBind(c.in)
		if err != nil || got != c.want {
			t.Errorf("%s CheckBind(%q) = %q, %v; want %q", c.p.GOOS, c.in, got, err, c.want)
		}
	}
	for _, c := range []struct {
		p  Policy
		in string
	}{
		{posix, "/srv/data"},
		{posix, "/home/me/../other/secret"}, // .. out of a share
		{posix, "/home/meow"},               // a sibling with a common prefix
		{win, `D:\data`},
		{win, `C:\Users\other`},
	} {
		_, err := c.p.CheckBind(c.in)
		if err == nil || !strings.Contains(err.Error(), "not shared with the Berth VM") || !strings.Contains(err.Error(), "berth start --mount") {
			t.Errorf("%s CheckBind(%q): %v, want a refusal that says how to share", c.p.GOOS, c.in, err)
		}
	}
}

func TestCheckBindVMSystemPath(t *testing.T) {
	p := Policy{GOOS: "linux", Shares: []Share{{HostPath: "/home/me"}}}
	_, err := p.CheckBind("/etc/passwd")
	if err == nil || !strings.Contains(err.Error(), "cannot be: it would cover the VM's own /etc") || strings.Contains(err.Error(), "--mount") {
		t.Fatalf("%v", err)
	}
}

func TestSplitBind(t *testing.T) {
	for _, c := range []struct{ goos, in, src, rest string }{
		{"linux", "/home/me/src:/app:ro", "/home/me/src", "/app:ro"},
		{"linux", "vol:/data", "vol", "/data"},
		{"windows", `C:\src:/app:ro`, `C:\src`, "/app:ro"},
		{"windows", `vol:/data`, "vol", "/data"},
	} {
		src, rest, err := SplitBind(c.goos, c.in)
		if err != nil || src != c.src || rest != c.rest {
			t.Errorf("SplitBind(%s, %q) = %q %q %v", c.goos, c.in, src, rest, err)
		}
	}
	if _, _, err := SplitBind("linux", "/only"); err == nil {
		t.Error("a bind without a target was accepted")
	}
}

func TestAddRemove(t *testing.T) {
	s := Add("linux", []Share{{HostPath: "/tmp"}}, Share{HostPath: "/srv/"})
	s = Add("linux", s, Share{HostPath: "/tmp", ReadOnly: true})
	if want := []Share{{HostPath: "/srv"}, {HostPath: "/tmp", ReadOnly: true}}; !reflect.DeepEqual(s, want) {
		t.Fatalf("after adds: %v", s)
	}
	s, err := Remove("linux", s, "/srv")
	if err != nil || !reflect.DeepEqual(s, []Share{{HostPath: "/tmp", ReadOnly: true}}) {
		t.Fatalf("after remove: %v %v", s, err)
	}
	if _, err := Remove("linux", s, "/home"); err == nil || !strings.Contains(err.Error(), "shared now: /tmp") {
		t.Fatalf("removing what is not shared: %v", err)
	}
	if w, err := Remove("windows", []Share{{HostPath: `C:\Src`}}, `c:\src\`); err != nil || len(w) != 0 {
		t.Fatalf("windows paths compare without case: %v %v", w, err)
	}
}
