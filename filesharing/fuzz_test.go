package filesharing

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// Any create request is refused or rewritten to valid JSON; on Linux,
// where the VM sees shares at their own paths, the rewritten request is a
// fixed point (every source it names is allowed as it stands).
func FuzzRewriteCreate(f *testing.F) {
	for _, s := range []string{
		`{"Image":"busybox","HostConfig":{"Binds":["/home/me/src:/app:ro","vol:/data","/var/run/docker.sock:/var/run/docker.sock"],` +
			`"Mounts":[{"Type":"bind","Source":"/home/me/cfg","Target":"/cfg"},{"Type":"volume","Source":"v2","Target":"/v2"}]}}`,
		`{"HostConfig":{"Binds":["/srv:/x"]}}`,
		`{"HostConfig":{"Mounts":[null,{"Type":"bind"}]}}`,
		`{"HostConfig":null}`,
		`{"HostConfig":{"Binds":"x"}}`,
		`{"HostConfig":{"Binds":["C:\\Users\\me\\src:/app:ro","c:\\users\\me\\x:/y"]}}`,
		`[]`, `null`, ``,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, windows bool) {
		p := Policy{GOOS: "linux", Shares: []Share{{HostPath: "/home/me"}, {HostPath: "/tmp", ReadOnly: true}}}
		if windows {
			p = Policy{GOOS: "windows", Shares: []Share{{HostPath: `C:\Users\me`}}}
		}
		out, err := p.RewriteCreate(body)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("rewrote %q to invalid JSON %q", body, out)
		}
		if windows {
			return
		}
		again, err := p.RewriteCreate(out)
		if err != nil {
			t.Fatalf("rewritten request %q is refused: %v", out, err)
		}
		if !bytes.Equal(again, out) && !jsonEqual(again, out) {
			t.Fatalf("rewriting %q twice: %q then %q", body, out, again)
		}
	})
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && x != nil &&
		string(mustJSON(x)) == string(mustJSON(y))
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// Any bind is split so that SRC:REST gives it back, and any source the
// policy allows maps to a path in the VM below a share's mount point, or
// one of the VM's own, or stays a volume name.
func FuzzBind(f *testing.F) {
	for _, s := range []string{
		"/home/me/src:/app:ro", "vol:/data", `C:\Users\me\src:/app`, "/home/me/../../etc:/x", "relative:/x",
		"/home/meme:/x", "/var/run/docker.sock:/var/run/docker.sock", `\\server\share:/x`, "C:", ":",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, bind string, windows bool) {
		goos, shares := "linux", []Share{{HostPath: "/home/me"}}
		if windows {
			goos, shares = "windows", []Share{{HostPath: `C:\Users\kim`}}
		}
		src, rest, err := SplitBind(goos, bind)
		if err != nil {
			return
		}
		if src+":"+rest != bind {
			t.Fatalf("SplitBind(%q) = %q, %q", bind, src, rest)
		}
		guest, err := Policy{GOOS: goos, Shares: shares}.CheckBind(src)
		if err != nil {
			return
		}
		mount, _ := GuestPath(goos, shares[0].HostPath)
		switch {
		case guest == src && isVolumeName(goos, src):
		case strings.HasPrefix(guest, "/") && (goos == "windows" || isGuestOnly(guest)) && guest == src:
		case guest == mount || strings.HasPrefix(guest, mount+"/"):
		default:
			t.Fatalf("bind source %q allowed as %q, outside the share %s", src, guest, mount)
		}
	})
}
