package dockerctx

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const sock = "unix:///run/berth/docker.sock"

func readMeta(t *testing.T, s Store, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.MetaDir(name), "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEnsureCreatesCLIFormat(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	if err := s.Ensure("berth", sock, "Berth"); err != nil {
		t.Fatal(err)
	}
	// `echo -n berth | sha256sum`, as the CLI's digest.FromString(name).Encoded().
	wantDir := filepath.Join(s.Dir, "contexts", "meta", "5c2f64c7f21efd5fb5e3d6a499abe5eacb248ae6f6f0085387c9a056d10ef5fd")
	if s.MetaDir("berth") != wantDir {
		t.Errorf("MetaDir = %q, want %q", s.MetaDir("berth"), wantDir)
	}
	want := `{"Name":"berth","Metadata":{"Description":"Berth"},"Endpoints":{"docker":{"Host":"unix:///run/berth/docker.sock","SkipTLSVerify":false}}}`
	if got := readMeta(t, s, "berth"); got != want {
		t.Errorf("meta.json =\n%s\nwant\n%s", got, want)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(filepath.Join(wantDir, "meta.json"))
		if err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("meta.json mode %v, %v; want 0644", fi.Mode(), err)
		}
		if fi, err := os.Stat(wantDir); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("context dir mode %v, %v; want 0755", fi.Mode(), err)
		}
	}
}

func TestEnsureUpdates(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	if err := s.Ensure("berth", sock, "Berth"); err != nil {
		t.Fatal(err)
	}
	// Fields other tools added survive an update.
	file := filepath.Join(s.MetaDir("berth"), "meta.json")
	extra := `{"Name":"berth","Metadata":{"Description":"Berth","Owner":"me"},"Endpoints":{"docker":{"Host":"unix:///old.sock","SkipTLSVerify":false},"kubernetes":{"Host":"https://k8s"}}}`
	if err := os.WriteFile(file, []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Ensure("berth", "unix:///new/docker.sock", "Berth VM"); err != nil {
		t.Fatal(err)
	}
	want := `{"Name":"berth","Metadata":{"Description":"Berth VM","Owner":"me"},"Endpoints":{"docker":{"Host":"unix:///new/docker.sock","SkipTLSVerify":false},"kubernetes":{"Host":"https://k8s"}}}`
	if got := readMeta(t, s, "berth"); got != want {
		t.Errorf("meta.json =\n%s\nwant\n%s", got, want)
	}

	// A corrupt file is replaced, and an empty description omitted as the CLI does.
	if err := os.WriteFile(file, []byte("{garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Ensure("berth", sock, ""); err != nil {
		t.Fatal(err)
	}
	want = `{"Name":"berth","Metadata":{},"Endpoints":{"docker":{"Host":"unix:///run/berth/docker.sock","SkipTLSVerify":false}}}`
	if got := readMeta(t, s, "berth"); got != want {
		t.Errorf("meta.json =\n%s\nwant\n%s", got, want)
	}
	entries, _ := os.ReadDir(s.MetaDir("berth"))
	if len(entries) != 1 {
		t.Errorf("context dir has %d entries, want only meta.json (no temp files)", len(entries))
	}
}

func TestInvalidNames(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	for _, name := range []string{"", "default", "b", "-x", "has space", "a/b", "../x"} {
		if err := s.Ensure(name, sock, ""); err == nil {
			t.Errorf("Ensure(%q) accepted an invalid name", name)
		}
	}
	if err := (Store{}).Ensure("berth", sock, ""); err == nil || !strings.Contains(err.Error(), "DOCKER_CONFIG") {
		t.Errorf("Ensure without a dir = %v, want a hint at DOCKER_CONFIG", err)
	}
}

func TestUsePreservesConfig(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	if cur, err := s.Current(); err != nil || cur != "default" {
		t.Fatalf("Current without config.json = %q, %v", cur, err)
	}
	if err := s.Use("berth"); err == nil {
		t.Fatal("Use of a missing context succeeded")
	}
	if err := s.Ensure("berth", sock, "Berth"); err != nil {
		t.Fatal(err)
	}

	cfgFile := filepath.Join(s.Dir, "config.json")
	orig := `{
	"auths": {"registry.example.com": {"auth": "dXNlcjpwYXNz"}},
	"credsStore": "desktop",
	"proxies": {"default": {"httpProxy": "http://proxy:3128", "noProxy": "a&b,<local>"}},
	"someFutureField": [1, {"x": null}],
	"currentContext": "other"
}`
	if err := os.WriteFile(cfgFile, []byte(orig), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := s.Use("berth"); err != nil {
		t.Fatal(err)
	}
	if cur, err := s.Current(); err != nil || cur != "berth" {
		t.Errorf("Current = %q, %v; want berth", cur, err)
	}

	var before, after map[string]any
	if err := json.Unmarshal([]byte(orig), &before); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &after); err != nil {
		t.Fatalf("config.json is no longer JSON: %v\n%s", err, b)
	}
	before["currentContext"] = "berth"
	if a, bb := mustMarshal(t, after), mustMarshal(t, before); a != bb {
		t.Errorf("config.json changed beyond currentContext:\n%s\nwant\n%s", a, bb)
	}
	if !strings.Contains(string(b), `"a&b,<local>"`) {
		t.Errorf("strings were re-escaped:\n%s", b)
	}
	if runtime.GOOS != "windows" {
		if fi, _ := os.Stat(cfgFile); fi.Mode().Perm() != 0o640 {
			t.Errorf("config.json mode = %v, want the original 0640", fi.Mode().Perm())
		}
	}

	// Back to default removes the key, as `docker context use default` does.
	if err := s.Use("default"); err != nil {
		t.Fatal(err)
	}
	if cur, err := s.Current(); err != nil || cur != "default" {
		t.Errorf("Current = %q, %v; want default", cur, err)
	}
	if b, _ := os.ReadFile(cfgFile); strings.Contains(string(b), "currentContext") {
		t.Errorf("currentContext still set:\n%s", b)
	}
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUseNewConfig(t *testing.T) {
	s := Store{Dir: filepath.Join(t.TempDir(), "fresh")}
	if err := s.Ensure("berth", sock, "Berth"); err != nil {
		t.Fatal(err)
	}
	if err := s.Use("berth"); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(s.Dir, "config.json")
	b, err := os.ReadFile(cfgFile)
	if err != nil || string(b) != "{\n\t\"currentContext\": \"berth\"\n}" {
		t.Errorf("config.json = %q, %v", b, err)
	}
	if runtime.GOOS != "windows" {
		if fi, _ := os.Stat(cfgFile); fi.Mode().Perm() != 0o600 {
			t.Errorf("new config.json mode = %v, want 0600", fi.Mode().Perm())
		}
		if fi, _ := os.Stat(s.Dir); fi.Mode().Perm() != 0o700 {
			t.Errorf("new config dir mode = %v, want 0700", fi.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(s.Dir)
	if len(entries) != 2 { // config.json and contexts/
		t.Errorf("config dir has %d entries, want 2 (no temp files)", len(entries))
	}
}

func TestUseThroughSymlink(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks need privileges on Windows")
	}
	s := Store{Dir: t.TempDir()}
	target := filepath.Join(t.TempDir(), "dotfiles-config.json")
	if err := os.WriteFile(target, []byte(`{"credsStore":"pass"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(s.Dir, "config.json")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := s.Ensure("berth", sock, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Use("berth"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("config.json is no longer a symlink: %v", err)
	}
	if b, _ := os.ReadFile(target); !strings.Contains(string(b), `"currentContext": "berth"`) || !strings.Contains(string(b), "pass") {
		t.Errorf("symlink target = %s", b)
	}
}

func TestCurrentErrors(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	cfgFile := filepath.Join(s.Dir, "config.json")
	for content, want := range map[string]string{"": "default", "  \n": "default", "null": "default", `{"currentContext":""}`: "default", `{"currentContext":"x1"}`: "x1"} {
		if err := os.WriteFile(cfgFile, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if cur, err := s.Current(); err != nil || cur != want {
			t.Errorf("Current with %q = %q, %v; want %q", content, cur, err, want)
		}
	}
	if err := os.WriteFile(cfgFile, []byte("{broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Current(); err == nil || !strings.Contains(err.Error(), cfgFile) {
		t.Errorf("Current with a corrupt config = %v, want an error naming %s", err, cfgFile)
	}
	if err := s.Use("default"); err == nil {
		t.Error("Use overwrote a corrupt config.json")
	}
}

func TestRemove(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	for _, n := range []string{"berth", "other"} {
		if err := s.Ensure(n, sock, ""); err != nil {
			t.Fatal(err)
		}
	}
	tls := filepath.Join(s.Dir, "contexts", "tls", contextID("berth"), "docker")
	if err := os.MkdirAll(tls, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.Use("berth"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("berth"); err != nil {
		t.Fatal(err)
	}
	if cur, err := s.Current(); err != nil || cur != "default" {
		t.Errorf("Current after Remove = %q, %v; want default", cur, err)
	}
	for _, d := range []string{s.MetaDir("berth"), filepath.Dir(tls)} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s still exists (%v)", d, err)
		}
	}
	if _, err := os.Stat(s.MetaDir("other")); err != nil {
		t.Errorf("other context gone: %v", err)
	}
	if err := s.Remove("berth"); err != nil {
		t.Errorf("second Remove = %v, want nil", err)
	}

	// Removing a context that is not current leaves the selection alone.
	if err := s.Use("other"); err != nil {
		t.Fatal(err)
	}
	if err := s.Ensure("berth", sock, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("berth"); err != nil {
		t.Fatal(err)
	}
	if cur, _ := s.Current(); cur != "other" {
		t.Errorf("Current = %q, want other", cur)
	}
}

func TestDefaultStore(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", "/some/where")
	if got := DefaultStore().Dir; got != "/some/where" {
		t.Errorf("with DOCKER_CONFIG: %q", got)
	}
	t.Setenv("DOCKER_CONFIG", "")
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skip(err)
	}
	if got := DefaultStore().Dir; got != filepath.Join(home, ".docker") {
		t.Errorf("default: %q", got)
	}
}

// dockerCLI runs the real docker CLI against dir, isolated from the caller's
// environment. No engine is needed: context commands only read files.
func dockerCLI(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("docker", append([]string{"--config", dir}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DOCKER_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestDockerCLIReadsStore(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker CLI on PATH")
	}
	s := Store{Dir: t.TempDir()}
	cfgFile := filepath.Join(s.Dir, "config.json")
	if err := os.WriteFile(cfgFile, []byte(`{"auths":{},"somethingElse":true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Ensure("berth", sock, "Berth"); err != nil {
		t.Fatal(err)
	}

	ls := dockerCLI(t, s.Dir, "context", "ls", "--format", "{{.Name}} {{.DockerEndpoint}}")
	if !strings.Contains(ls, "berth "+sock) {
		t.Errorf("docker context ls does not show berth:\n%s", ls)
	}

	var inspected []struct {
		Name      string
		Metadata  struct{ Description string }
		Endpoints map[string]struct{ Host string }
		Storage   struct{ MetadataPath string }
	}
	out := dockerCLI(t, s.Dir, "context", "inspect", "berth")
	if err := json.Unmarshal([]byte(out), &inspected); err != nil || len(inspected) != 1 {
		t.Fatalf("docker context inspect: %v\n%s", err, out)
	}
	got := inspected[0]
	if got.Name != "berth" || got.Metadata.Description != "Berth" || got.Endpoints["docker"].Host != sock || got.Storage.MetadataPath != s.MetaDir("berth") {
		t.Errorf("docker context inspect berth = %+v", got)
	}

	// Selection both ways: the CLI sees ours, and we see the CLI's.
	if err := s.Use("berth"); err != nil {
		t.Fatal(err)
	}
	if cur := dockerCLI(t, s.Dir, "context", "show"); cur != "berth" {
		t.Errorf("docker context show = %q after Use", cur)
	}
	// Checked now: the CLI's own `context use` below drops unknown fields.
	if b, _ := os.ReadFile(cfgFile); !strings.Contains(string(b), `"somethingElse": true`) {
		t.Errorf("config.json lost fields:\n%s", b)
	}
	dockerCLI(t, s.Dir, "context", "use", "default")
	if cur, err := s.Current(); err != nil || cur != "default" {
		t.Errorf("Current = %q, %v after docker context use default", cur, err)
	}
	dockerCLI(t, s.Dir, "context", "use", "berth")
	if cur, err := s.Current(); err != nil || cur != "berth" {
		t.Errorf("Current = %q, %v after docker context use berth", cur, err)
	}
	if err := s.Remove("berth"); err != nil {
		t.Fatal(err)
	}
	if cur := dockerCLI(t, s.Dir, "context", "show"); cur != "default" {
		t.Errorf("docker context show = %q after Remove", cur)
	}
}

// TestSameBytesAsDockerCLI has the CLI create the same context and compares
// the files byte for byte.
func TestSameBytesAsDockerCLI(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker CLI on PATH")
	}
	ours, theirs := Store{Dir: t.TempDir()}, Store{Dir: t.TempDir()}
	if err := ours.Ensure("berth", sock, "Berth"); err != nil {
		t.Fatal(err)
	}
	dockerCLI(t, theirs.Dir, "context", "create", "berth", "--description", "Berth", "--docker", "host="+sock)
	if a, b := readMeta(t, ours, "berth"), readMeta(t, theirs, "berth"); a != b {
		t.Errorf("meta.json differs from docker context create:\nours   %s\ntheirs %s", a, b)
	}
	// And the CLI updating our context keeps a file we still understand.
	dockerCLI(t, ours.Dir, "context", "update", "berth", "--docker", "host=unix:///elsewhere.sock")
	if err := ours.Ensure("berth", sock, "Berth"); err != nil {
		t.Fatal(err)
	}
	if a, b := readMeta(t, ours, "berth"), readMeta(t, theirs, "berth"); a != b {
		t.Errorf("after docker context update and Ensure:\nours   %s\ntheirs %s", a, b)
	}
}

// Berth's proxies go under its own docker host; the user's other entries
// and fields stay, and removing them leaves no empty "proxies".
func TestSetProxies(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	file := filepath.Join(s.Dir, "config.json")
	os.WriteFile(file, []byte(`{"auths":{"r.example":{}},"proxies":{"default":{"httpProxy":"http://mine:1"}}}`), 0o600)
	host := "unix:///run/berth/docker.sock"
	p := &Proxies{HTTPProxy: "http://192.168.127.1:3128", HTTPSProxy: "http://192.168.127.1:3128", NoProxy: "localhost"}
	if err := s.SetProxies(host, p); err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Auths   map[string]any     `json:"auths"`
		Proxies map[string]Proxies `json:"proxies"`
	}
	b, _ := os.ReadFile(file)
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Proxies[host] != *p || cfg.Proxies["default"].HTTPProxy != "http://mine:1" || cfg.Auths == nil {
		t.Fatalf("config after set: %s", b)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want the file's 0600 kept", fi.Mode().Perm())
	}
	if err := s.SetProxies(host, nil); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(file)
	if strings.Contains(string(b), host) || !strings.Contains(string(b), "mine:1") {
		t.Errorf("config after removal: %s", b)
	}
	s.SetProxies("default", nil)
	if b, _ = os.ReadFile(file); strings.Contains(string(b), "proxies") {
		t.Errorf("empty proxies left: %s", b)
	}
}
