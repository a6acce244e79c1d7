package filesharing

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRewriteCreateWindows(t *testing.T) {
	p := Policy{GOOS: "windows", Shares: []Share{{HostPath: `C:\Users\me`}}}
	body := `{"Image":"busybox","Cmd":["ls"],"Unknown":{"kept":1},"HostConfig":{"Binds":["C:\\Users\\me\\src:/app:ro","vol:/data","/var/run/docker.sock:/var/run/docker.sock"],` +
		`"Mounts":[{"Type":"bind","Source":"c:\\users\\me\\cfg","Target":"/cfg","ReadOnly":true},{"Type":"volume","Source":"v2","Target":"/v2"}],"Memory":0}}`
	out, err := p.RewriteCreate([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Image      string
		Unknown    map[string]int
		HostConfig struct {
			Binds  []string
			Mounts []map[string]any
			Memory *int
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if want := []string{"/mnt/host/c/Users/me/src:/app:ro", "vol:/data", "/var/run/docker.sock:/var/run/docker.sock"}; !reflect.DeepEqual(got.HostConfig.Binds, want) {
		t.Errorf("binds %q", got.HostConfig.Binds)
	}
	if got.HostConfig.Mounts[0]["Source"] != "/mnt/host/c/Users/me/cfg" || got.HostConfig.Mounts[0]["ReadOnly"] != true || got.HostConfig.Mounts[1]["Source"] != "v2" {
		t.Errorf("mounts %v", got.HostConfig.Mounts)
	}
	if got.Image != "busybox" || got.Unknown["kept"] != 1 || got.HostConfig.Memory == nil {
		t.Errorf("other fields lost: %s", out)
	}
}

func TestRewriteCreateRefuses(t *testing.T) {
	p := Policy{GOOS: "linux", Shares: []Share{{HostPath: "/home/me"}}}
	for _, body := range []string{
		`{"HostConfig":{"Binds":["/srv:/x"]}}`,
		`{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/srv","Target":"/x"}]}}`,
	} {
		_, err := p.RewriteCreate([]byte(body))
		if err == nil || !strings.Contains(err.Error(), "/srv is not shared") || !strings.Contains(err.Error(), "berth start --mount /srv") {
			t.Errorf("%s: %v", body, err)
		}
	}
	// Nothing to vet: the body goes through byte for byte.
	for _, body := range []string{`{"Image":"x"}`, `{"HostConfig":null}`, `{"HostConfig":{"Memory":1}}`} {
		if out, err := p.RewriteCreate([]byte(body)); err != nil || string(out) != body {
			t.Errorf("%s became %s, %v", body, out, err)
		}
	}
	if _, err := p.RewriteCreate([]byte(`{"HostConfig":{"Binds":"x"}}`)); err == nil {
		t.Error("malformed Binds accepted")
	}
}

// A symlink inside a share that points out of it is judged by its target:
// in the VM it would otherwise resolve to a VM path of the same name.
func TestCheckBindFollowsSymlinks(t *testing.T) {
	dir := t.TempDir()
	share, outside := filepath.Join(dir, "share"), filepath.Join(dir, "outside")
	for _, d := range []string{share, outside, filepath.Join(share, "real")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(share, "out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(share, "in")); err != nil {
		t.Fatal(err)
	}
	p := HostPolicy([]Share{{HostPath: share}})
	p.GOOS = "linux"
	if _, err := p.CheckBind(filepath.Join(share, "out", "x")); err == nil || !strings.Contains(err.Error(), "a symlink to "+outside) {
		t.Errorf("symlink out of the share: %v", err)
	}
	if got, err := p.CheckBind(filepath.Join(share, "in", "not-yet")); err != nil || got != filepath.Join(share, "real", "not-yet") {
		t.Errorf("symlink within the share: %q %v", got, err)
	}
	if got, err := ResolveHost("/no/such/dir/at/all"); err != nil || got != "/no/such/dir/at/all" {
		t.Errorf("missing path: %q %v", got, err)
	}
}

// A share reached through a symlink (macOS /tmp is /private/tmp) keeps its
// own path in the VM.
func TestCheckBindShareBehindSymlink(t *testing.T) {
	dir := t.TempDir()
	resolved, link := filepath.Join(dir, "real"), filepath.Join(dir, "link")
	if err := os.Mkdir(resolved, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(resolved, link); err != nil {
		t.Fatal(err)
	}
	p := HostPolicy([]Share{{HostPath: link}})
	if got, err := p.CheckBind(filepath.Join(link, "src")); err != nil || got != filepath.Join(link, "src") {
		t.Errorf("got %q, %v", got, err)
	}
}
