package settings

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/berthvm/berth/filesharing"
	"github.com/berthvm/berth/filesharing/fswatch"
	"github.com/berthvm/berth/internal/bytesize"
	"github.com/berthvm/berth/internal/vhdx"
)

func TestDefault(t *testing.T) {
	for _, tc := range []struct {
		name string
		host Host
		want Settings
	}{
		{"unknown host", Host{}, Settings{CPUs: 2, MemoryMiB: 2048, DiskGiB: 64, ContainerLogMiB: 10, ContainerLogFiles: 3}},
		{"1 CPU 2 GiB", Host{CPUs: 1, MemoryMiB: 2048}, Settings{CPUs: 1, MemoryMiB: 1024, DiskGiB: 64, ContainerLogMiB: 10, ContainerLogFiles: 3}},
		{"4 CPUs 6 GiB", Host{CPUs: 4, MemoryMiB: 6144}, Settings{CPUs: 2, MemoryMiB: 1536, DiskGiB: 64, ContainerLogMiB: 10, ContainerLogFiles: 3}},
		{"8 CPUs 16 GiB", Host{CPUs: 8, MemoryMiB: 16384}, Settings{CPUs: 4, MemoryMiB: 2048, DiskGiB: 64, ContainerLogMiB: 10, ContainerLogFiles: 3}},
		{"64 CPUs 256 GiB", Host{CPUs: 64, MemoryMiB: 262144}, Settings{CPUs: 4, MemoryMiB: 2048, DiskGiB: 64, ContainerLogMiB: 10, ContainerLogFiles: 3}},
		{"3 CPUs 1 GiB", Host{CPUs: 3, MemoryMiB: 1024}, Settings{CPUs: 1, MemoryMiB: 1024, DiskGiB: 64, ContainerLogMiB: 10, ContainerLogFiles: 3}},
	} {
		if got := Default(tc.host); !got.Equal(tc.want) {
			t.Errorf("%s: Default = %+v, want %+v", tc.name, got, tc.want)
		}
	}
	// The defaults must pass validation on any machine that can run Berth.
	for _, h := range []Host{{}, {CPUs: 1, MemoryMiB: 2048}, {CPUs: 8, MemoryMiB: 16384}} {
		if err := Default(h).Validate(h, nil); err != nil {
			t.Errorf("Default(%+v) is invalid: %v", h, err)
		}
	}
}

func TestThisHost(t *testing.T) {
	h := ThisHost()
	if h.CPUs < 1 {
		t.Errorf("CPUs = %d", h.CPUs)
	}
	if runtime.GOOS == "linux" && h.MemoryMiB < 256 {
		t.Errorf("MemoryMiB = %d, want the machine's memory", h.MemoryMiB)
	}
}

func TestParseMeminfo(t *testing.T) {
	in := "MemFree:         1000 kB\nMemTotal:       16318464 kB\nBuffers: 1 kB\n"
	if got := parseMeminfo(strings.NewReader(in)); got != 15936 {
		t.Errorf("parseMeminfo = %d, want 15936", got)
	}
	if got := parseMeminfo(strings.NewReader("garbage")); got != 0 {
		t.Errorf("parseMeminfo(garbage) = %d, want 0", got)
	}
}

func TestValidate(t *testing.T) {
	host := Host{CPUs: 8, MemoryMiB: 16384}
	ok := Settings{CPUs: 2, MemoryMiB: 2048, DiskGiB: 64, ContainerLogMiB: 10, ContainerLogFiles: 3}
	cur := ok
	for _, tc := range []struct {
		name    string
		s       Settings
		host    Host
		current *Settings
		want    string // "" means valid
	}{
		{"ok", ok, host, &cur, ""},
		{"all CPUs", Settings{CPUs: 8, MemoryMiB: 2048, DiskGiB: 64, ContainerLogMiB: 10, ContainerLogFiles: 3}, host, nil, ""},
		{"no CPUs", Settings{CPUs: 0, MemoryMiB: 2048, DiskGiB: 64, ContainerLogMiB: 10, ContainerLogFiles: 3}, host, nil,
			"--cpus 0: must be between 1 and 8 (this machine has 8 CPUs)"},
		{"too many CPUs", Settings{CPUs: 9, MemoryMiB: 2048, DiskGiB: 64, ContainerLogMiB: 10, ContainerLogFiles: 3}, host, nil,
			"--cpus 9: must be between 1 and 8 (this machine has 8 CPUs)"},
		{"no CPUs, unknown host", Settings{CPUs: 0, MemoryMiB: 2048, DiskGiB: 64, ContainerLogMiB: 10, ContainerLogFiles: 3}, Host{}, nil,
			"--cpus 0: must be at least 1"},
		{"little memory", Settings{CPUs: 2, MemoryMiB: 512, DiskGiB: 64, ContainerLogMiB: 10, ContainerLogFiles: 3}, host, nil,
			"--memory 512 MiB: must be at least 1 GiB"},
		{"most memory", Settings{CPUs: 2, MemoryMiB: 15360, DiskGiB: 64, ContainerLogMiB: 10, ContainerLogFiles: 3}, host, nil, ""},
		{"too much memory", Settings{CPUs: 2, MemoryMiB: 15361, DiskGiB: 64, ContainerLogMiB: 10, ContainerLogFiles: 3}, host, nil,
			"--memory 15361 MiB: must be at most 15 GiB (this machine has 16 GiB; about 1 GiB stays with the host)"},
		{"too much memory, odd host", Settings{CPUs: 2, MemoryMiB: 16384, ContainerLogMiB: 10, ContainerLogFiles: 3}, Host{CPUs: 8, MemoryMiB: 15936}, nil,
			"--memory 16 GiB: must be at most 14.5 GiB (this machine has 15.5 GiB; about 1 GiB stays with the host)\n--disk 0: must be between 8 and 2048 GiB"},
		{"much memory, unknown host", Settings{CPUs: 2, MemoryMiB: 1 << 20, DiskGiB: 64, ContainerLogMiB: 10, ContainerLogFiles: 3}, Host{}, nil, ""},
		{"tiny host", Settings{CPUs: 1, MemoryMiB: 1024, DiskGiB: 64, ContainerLogMiB: 10, ContainerLogFiles: 3}, Host{CPUs: 1, MemoryMiB: 1536}, nil,
			"--memory 1 GiB: this machine has only 1.5 GiB; Berth needs 1 GiB plus about 1 GiB for the host"},
		{"small disk", Settings{CPUs: 2, MemoryMiB: 2048, DiskGiB: 4, ContainerLogMiB: 10, ContainerLogFiles: 3}, host, nil,
			"--disk 4: must be between 8 and 2048 GiB"},
		{"huge disk", Settings{CPUs: 2, MemoryMiB: 2048, DiskGiB: 4096, ContainerLogMiB: 10, ContainerLogFiles: 3}, host, nil,
			"--disk 4096: must be between 8 and 2048 GiB"},
		{"shrink", Settings{CPUs: 2, MemoryMiB: 2048, DiskGiB: 32, ContainerLogMiB: 10, ContainerLogFiles: 3}, host, &cur,
			"disk cannot shrink from 64 GiB to 32 GiB: images and volumes live there; choose 64 GiB or more (or `berth delete` to start afresh)"},
		{"grow", Settings{CPUs: 2, MemoryMiB: 2048, DiskGiB: 128, ContainerLogMiB: 10, ContainerLogFiles: 3}, host, &cur, ""},
		{"shrink without current", Settings{CPUs: 2, MemoryMiB: 2048, DiskGiB: 32, ContainerLogMiB: 10, ContainerLogFiles: 3}, host, nil, ""},
		{"smallest logs", Settings{CPUs: 2, MemoryMiB: 2048, DiskGiB: 64, ContainerLogMiB: 1, ContainerLogFiles: 1}, host, nil, ""},
		{"largest logs", Settings{CPUs: 2, MemoryMiB: 2048, DiskGiB: 64, ContainerLogMiB: 1024, ContainerLogFiles: 100}, host, nil, ""},
		{"logs too large", Settings{CPUs: 2, MemoryMiB: 2048, DiskGiB: 64, ContainerLogMiB: 1025, ContainerLogFiles: 101}, host, nil,
			"--container-log-size 1025 MiB: must be between 1 MiB and 1 GiB per file\n--container-log-files 101: must be between 1 and 100"},
		{"unlimited log size", Settings{CPUs: 2, MemoryMiB: 2048, DiskGiB: 64, ContainerLogMiB: 0, ContainerLogFiles: 3}, host, nil,
			"--container-log-size 0 MiB: must be between 1 MiB and 1 GiB per file (logs cannot be unlimited: one busy container would fill the data disk)"},
		{"negative log files", Settings{CPUs: 2, MemoryMiB: 2048, DiskGiB: 64, ContainerLogMiB: 10, ContainerLogFiles: -1}, host, nil,
			"--container-log-files -1: must be between 1 and 100 (logs cannot be unlimited: one busy container would fill the data disk)"},
		{"everything wrong", Settings{}, host, nil,
			"--cpus 0: must be between 1 and 8 (this machine has 8 CPUs)\n--memory 0 MiB: must be at least 1 GiB\n--disk 0: must be between 8 and 2048 GiB\n" +
				"--container-log-size 0 MiB: must be between 1 MiB and 1 GiB per file (logs cannot be unlimited: one busy container would fill the data disk)\n" +
				"--container-log-files 0: must be between 1 and 100 (logs cannot be unlimited: one busy container would fill the data disk)"},
	} {
		err := tc.s.Validate(tc.host, tc.current)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: unexpected error: %v", tc.name, err)
		case tc.want != "" && err == nil:
			t.Errorf("%s: no error, want %q", tc.name, tc.want)
		case tc.want != "" && err.Error() != tc.want:
			t.Errorf("%s: error\n %q\nwant\n %q", tc.name, err, tc.want)
		}
	}
}

func TestParseGiB(t *testing.T) {
	for in, want := range map[string]int{
		"4": 4096, "2.5": 2560, "4G": 4096, "4g": 4096, "4GiB": 4096, "4 GiB": 4096, "4GB": 4096,
		"512M": 512, "512MiB": 512, "512mb": 512, " 1.5 ": 1536, ".5": 512, "1.": 1024,
	} {
		got, err := ParseGiB(in)
		if err != nil || got != want {
			t.Errorf("ParseGiB(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"":        `"" is not a memory size: give GiB like 4 or 2.5 (or 4G), or MiB like 512M`,
		"four":    `"four" is not a memory size`,
		"4T":      `"4T" is not a memory size`,
		"-1":      `"-1" is not a memory size`,
		"1.2.3":   `"1.2.3" is not a memory size`,
		"inf":     `"inf" is not a memory size`,
		"1e3":     `"1e3" is not a memory size`,
		"G":       `"G" is not a memory size`,
		"0":       `"0" is too small: give at least 1 GiB, like 1 or 1024M`,
		"0.0001G": `"0.0001G" is too small`,
		"9999999": `"9999999" is too large`,
	} {
		_, err := ParseGiB(in)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("ParseGiB(%q) error = %v, want prefix %q", in, err, want)
		}
	}
}

func TestParseLogSize(t *testing.T) {
	for in, want := range map[string]int{
		"10": 10, "10M": 10, "10m": 10, "10MiB": 10, "10 MB": 10, " 1.5 ": 2, "1G": 1024, "1GiB": 1024, "0.5g": 512,
		"0": 0, "2048": 2048, "99999999999G": math.MaxInt32,
	} {
		got, err := ParseLogSize(in)
		if err != nil || got != want {
			t.Errorf("ParseLogSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "off", "unlimited", "-1", "10K", "1e3", "inf", "M", "1.2.3"} {
		_, err := ParseLogSize(in)
		if want := fmt.Sprintf("%q is not a log size: give MiB like 10 (or 10M), or GiB like 1G", in); err == nil || err.Error() != want {
			t.Errorf("ParseLogSize(%q) error = %v, want %q", in, err, want)
		}
	}
	// What Validate shows is what the flag takes back.
	for _, mib := range []int{1, 10, 1000, 1024, 1536} {
		if got, err := ParseLogSize(bytesize.MiB(mib)); err != nil || got != mib {
			t.Errorf("ParseLogSize(%q) = %d, %v; want %d", bytesize.MiB(mib), got, err, mib)
		}
	}
}

func testPaths(t *testing.T) Paths {
	t.Helper()
	t.Setenv("BERTH_HOME", t.TempDir())
	p, err := DefaultPaths()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBerthHome(t *testing.T) {
	home := t.TempDir()
	t.Setenv("BERTH_HOME", home)
	p, err := DefaultPaths()
	if err != nil {
		t.Fatal(err)
	}
	want := Paths{Config: filepath.Join(home, "config"), Data: filepath.Join(home, "data"), Run: filepath.Join(home, "run"), VM: p.VM}
	if p != want {
		t.Errorf("DefaultPaths = %+v, want %+v", p, want)
	}
	// Each home names its own VM, so homes side by side never touch each other's.
	other := t.TempDir()
	t.Setenv("BERTH_HOME", other)
	if q, _ := DefaultPaths(); q.VMName() == p.VMName() || !strings.HasPrefix(p.VMName(), "berth-") {
		t.Errorf("machine names %q and %q for two homes", p.VMName(), q.VMName())
	}
	if (Paths{}).VMName() != "berth" {
		t.Errorf("the default machine is %q", (Paths{}).VMName())
	}

	// A relative BERTH_HOME is made absolute, so a later chdir changes nothing.
	t.Chdir(home)
	t.Setenv("BERTH_HOME", "rel")
	if p, err = DefaultPaths(); err != nil || !filepath.IsAbs(p.Run) {
		t.Errorf("relative BERTH_HOME: %+v, %v", p, err)
	}
}

// The daemon and its clients (CLI, GUI) find its files through these.
func TestDaemonFiles(t *testing.T) {
	p := Paths{Config: "/c", Data: "/d", Run: "/r"}
	for got, dir := range map[string]string{p.ControlSocket(): p.Run, p.NetSocket(): p.Run, p.DaemonLog(): p.Data, p.SerialLog(): p.Data} {
		if filepath.Dir(got) != dir {
			t.Errorf("%s is not in %s", got, dir)
		}
	}
	if runtime.GOOS != "windows" && filepath.Dir(p.DockerSocket()) != p.Run {
		t.Errorf("docker socket %s is not in %s", p.DockerSocket(), p.Run)
	}
}

func TestDefaultPathsXDG(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		t.Skip("XDG layout is for Linux and other unixes")
	}
	home := t.TempDir()
	t.Setenv("BERTH_HOME", "")
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "/x/config")
	t.Setenv("XDG_DATA_HOME", "relative/is/ignored")
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	p, err := DefaultPaths()
	if err != nil {
		t.Fatal(err)
	}
	want := Paths{Config: "/x/config/berth", Data: filepath.Join(home, ".local/share/berth"), Run: "/run/user/1000/berth"}
	if p != want {
		t.Errorf("DefaultPaths = %+v, want %+v", p, want)
	}

	t.Setenv("XDG_RUNTIME_DIR", "")
	if p, err = DefaultPaths(); err != nil || p.Run != filepath.Join(os.TempDir(), "berth-"+strconv.Itoa(os.Getuid())) {
		t.Errorf("without XDG_RUNTIME_DIR: Run = %q, %v", p.Run, err)
	}
}

func TestEnsure(t *testing.T) {
	p := testPaths(t)
	if err := p.Ensure(); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "windows" {
		return
	}
	for _, d := range []string{p.Config, p.Data, p.Run} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("%s: %v %v, want mode 0700", d, fi.Mode(), err)
		}
	}
	// A directory someone made world-readable is tightened again.
	if err := os.Chmod(p.Run, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := p.Ensure(); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p.Run); fi.Mode().Perm() != 0o700 {
		t.Errorf("after Ensure, %s has mode %v, want 0700", p.Run, fi.Mode().Perm())
	}
	// A file where a directory should be is an error.
	if err := os.RemoveAll(p.Data); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.Data, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.Ensure(); err == nil {
		t.Error("Ensure accepted a file as the data directory")
	}
}

func TestEnsureForeignOwner(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no unix ownership")
	}
	// Someone else's directory, as another user could plant in a shared /tmp:
	// as root, make one; as anyone else, root's "/" serves.
	dir, owner := "/", 0
	if os.Getuid() == 0 {
		dir, owner = t.TempDir(), 65534
		if err := os.Chown(dir, owner, owner); err != nil {
			t.Fatal(err)
		}
	}
	err := Paths{Config: dir, Data: dir, Run: dir}.Ensure()
	want := "is owned by uid " + strconv.Itoa(owner) + ", not by you"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Ensure(%s) = %v, want an error containing %q", dir, err, want)
	}
}

func TestValidateShares(t *testing.T) {
	host := Host{CPUs: 8, MemoryMiB: 16384, GOOS: "linux"}
	dir := t.TempDir()
	s := Settings{CPUs: 2, MemoryMiB: 2048, DiskGiB: 64, ContainerLogMiB: 10, ContainerLogFiles: 3, Shares: []filesharing.Share{{HostPath: dir}}}
	if err := s.Validate(host, nil); err != nil {
		t.Fatal(err)
	}
	s.Shares = []filesharing.Share{{HostPath: dir}, {HostPath: dir + "/sub"}, {HostPath: "/no/such/folder"}}
	err := s.Validate(host, nil)
	for _, want := range []string{
		"is inside", "--unmount PATH",
		"shared folder /no/such/folder is not a folder on this machine: create it, or stop sharing it with `berth start --unmount /no/such/folder`",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	// Home and temp are shared by default.
	d := Default(Host{GOOS: "linux", Home: "/home/me", Temp: "/tmp"})
	if want := []filesharing.Share{{HostPath: "/home/me"}, {HostPath: "/tmp"}}; !slices.Equal(d.Shares, want) {
		t.Errorf("default shares %v", d.Shares)
	}
}

func TestLoadSave(t *testing.T) {
	p := testPaths(t)
	host := Host{CPUs: 8, MemoryMiB: 16384}

	s, err := Load(p, host)
	if err != nil || !s.Equal(Default(host)) {
		t.Fatalf("Load without a file = %+v, %v; want defaults", s, err)
	}

	want := Settings{CPUs: 3, MemoryMiB: 5120, DiskGiB: 100, Activate: true, ContainerLogMiB: 50, ContainerLogFiles: 7, Shares: []filesharing.Share{{HostPath: "/srv/x y", ReadOnly: true}}}
	for range 2 { // the second Save replaces an existing file
		if err := Save(p, want); err != nil {
			t.Fatal(err)
		}
	}
	if s, err = Load(p, host); err != nil || !s.Equal(want) {
		t.Fatalf("Load = %+v, %v; want %+v", s, err, want)
	}

	// Atomic writes leave only the settings file behind, private to the user.
	entries, err := os.ReadDir(p.Config)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "settings.json" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("config dir holds %v, want only settings.json", names)
	}
	if fi, err := os.Stat(p.File()); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Errorf("settings file: %v %v, want mode 0600", fi.Mode(), err)
	}
	b, _ := os.ReadFile(p.File())
	if !strings.Contains(string(b), `"memory_mib": 5120`) || !strings.Contains(string(b), `"activate_context": true`) ||
		!strings.Contains(string(b), `"container_log_mib": 50`) || !strings.Contains(string(b), `"container_log_files": 7`) {
		t.Errorf("settings file content:\n%s", b)
	}
}

func TestLoadPartialFile(t *testing.T) {
	p := testPaths(t)
	host := Host{CPUs: 8, MemoryMiB: 16384}
	if err := os.MkdirAll(p.Config, 0o700); err != nil {
		t.Fatal(err)
	}
	// A file from an older Berth without some fields keeps the defaults for them.
	if err := os.WriteFile(p.File(), []byte(`{"cpus": 6, "future_field": 1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	want := Default(host)
	want.CPUs = 6
	if s, err := Load(p, host); err != nil || !s.Equal(want) {
		t.Errorf("Load = %+v, %v; want %+v", s, err, want)
	}

	// A whole file of the Berth before container log limits gets the
	// limit that Berth's engine had (10 MiB x 3), which validates.
	old := `{"cpus": 2, "memory_mib": 3072, "disk_gib": 80, "activate_context": false, "shares": []}`
	if err := os.WriteFile(p.File(), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Load(p, host)
	if err != nil || s.ContainerLogMiB != 10 || s.ContainerLogFiles != 3 || s.DiskGiB != 80 {
		t.Errorf("Load of an older file = %+v, %v; want 10 MiB x 3 logs", s, err)
	}
	if err := s.Validate(host, nil); err != nil {
		t.Errorf("an older file's settings are invalid: %v", err)
	}
}

func TestLoadCorrupt(t *testing.T) {
	p := testPaths(t)
	if err := os.MkdirAll(p.Config, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, content := range []string{"", `{"cpus": 2,`, `{"cpus": "two"}`} {
		if err := os.WriteFile(p.File(), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p, Host{})
		if err == nil {
			t.Fatalf("Load(%q) succeeded", content)
		}
		for _, want := range []string{p.File(), "is corrupt", "delete it", "berth start --cpus", "a copy is kept at " + p.File() + ".corrupt-"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Load(%q) error %q does not mention %q", content, err, want)
			}
		}
		// Loading again keeps no second copy of the same content.
		Load(p, Host{})
		if kept := corruptCopies(t, p); kept[content] != 1 {
			t.Errorf("copies of %q: %v", content, kept)
		}
	}
	// Saving over a corrupt file keeps it too, then writes good settings.
	os.WriteFile(p.File(), []byte(`{"cpus": 3, "memo`), 0o600)
	if err := Save(p, Default(Host{})); err != nil {
		t.Fatal(err)
	}
	if kept := corruptCopies(t, p); kept[`{"cpus": 3, "memo`] != 1 || len(kept) != 4 {
		t.Errorf("copies after Save: %v", kept)
	}
	if _, err := Load(p, Host{}); err != nil {
		t.Fatal(err)
	}
}

// A dynamic VHDX file holds only what was written: Check must see the disk
// it stands for, or shrinking would pass and every later boot fail.
func TestDiskSizeOfVHDXIsItsVirtualSize(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img is not installed")
	}
	p := filepath.Join(t.TempDir(), "data.vhdx")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "vhdx", p, "64G").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v: %s", err, out)
	}
	n, err := DiskSize(p)
	if err != nil || n != 64<<30 {
		t.Fatalf("DiskSize = %d, %v; want 64 GiB", n, err)
	}
	raw := filepath.Join(t.TempDir(), "data.img")
	os.WriteFile(raw, make([]byte, 4096), 0o600)
	if n, err := DiskSize(raw); err != nil || n != 4096 {
		t.Fatalf("raw DiskSize = %d, %v", n, err)
	}
}

// Hyper-V's VMs are host-wide: two Windows users get two machines, each
// named the same way at every start.
func TestWindowsMachineIsPerUser(t *testing.T) {
	ann := windowsPaths(`C:\Users\ann\AppData\Roaming`, `C:\Users\ann\AppData\Local`)
	bob := windowsPaths(`C:\Users\bob\AppData\Roaming`, `C:\Users\bob\AppData\Local`)
	if ann.VMName() == bob.VMName() || !strings.HasPrefix(ann.VMName(), "berth-") {
		t.Errorf("machines %q and %q for two users", ann.VMName(), bob.VMName())
	}
	if again := windowsPaths(`C:\Users\ann\AppData\Roaming`, `C:\users\ANN\AppData\Local`); again.VMName() != ann.VMName() {
		t.Errorf("ann's machine is %q, then %q", ann.VMName(), again.VMName())
	}
	if ann.Data != filepath.Join(`C:\Users\ann\AppData\Local`, "Berth") || ann.Run != filepath.Join(ann.Data, "run") {
		t.Errorf("ann's paths: %+v", ann)
	}
}

// corruptCopies counts the copies of corrupt settings by content.
func corruptCopies(t *testing.T, p Paths) map[string]int {
	t.Helper()
	names, _ := filepath.Glob(p.File() + ".corrupt-*")
	n := map[string]int{}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(name); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
		n[string(b)]++
	}
	return n
}

// A running VM's VHDX may be held with no read sharing (Windows): the
// check then takes the size the saved settings gave the disk, and still
// refuses shrinking, instead of failing every start and the settings page.
func TestDiskInUseIsTheSavedSize(t *testing.T) {
	dir := t.TempDir()
	p := Paths{Config: dir, Data: dir, Run: dir}
	host := Host{CPUs: 4, MemoryMiB: 8192}
	saved := Default(host)
	saved.DiskGiB = 96
	if err := Save(p, saved); err != nil {
		t.Fatal(err)
	}
	inUse := func(path string) (int64, error) { return 0, fmt.Errorf("%s: %w", path, vhdx.ErrInUse) }
	smaller := saved
	smaller.DiskGiB = 64
	if err := smaller.validateAgainstDisk(p, host, inUse); err == nil || !strings.Contains(err.Error(), "96") {
		t.Errorf("shrinking a disk in use: %v", err)
	}
	if err := saved.validateAgainstDisk(p, host, inUse); err != nil {
		t.Errorf("the same size: %v", err)
	}
	if n, err := CurrentDiskSize(p, host, inUse); err != nil || n != 96<<30 {
		t.Errorf("CurrentDiskSize = %d, %v", n, err)
	}
	// Another failure is still one.
	broken := func(string) (int64, error) { return 0, errors.New("bad VHDX") }
	if err := saved.validateAgainstDisk(p, host, broken); err == nil {
		t.Error("a broken disk passed")
	}
}

func TestWindowsProfilePaths(t *testing.T) {
	dir := t.TempDir()
	got := WindowsProfilePaths(dir)
	want := windowsPaths(filepath.Join(dir, "AppData", "Roaming"), filepath.Join(dir, "AppData", "Local"))
	if got != want {
		t.Errorf("WindowsProfilePaths = %+v, want %+v", got, want)
	}
	if sock := got.ControlSocket(); sock != filepath.Join(dir, "AppData", "Local", "Berth", "run", "berth.sock") {
		t.Errorf("control socket %s", sock)
	}
}

// On macOS every process of a user (the CLI in a terminal, the dashboard
// opened from Finder, the login item started by launchd) must find one
// run directory, whatever TMPDIR each was given.
func TestMacRunDirDoesNotFollowTMPDIR(t *testing.T) {
	const home, uid = "/Users/ann", 501
	want := Paths{
		Config: "/Users/ann/Library/Application Support/Berth",
		Data:   "/Users/ann/Library/Application Support/Berth",
		Run:    "/Users/ann/.berth/run",
	}
	for _, tmp := range []string{
		"/var/folders/xy/abcdefgh_ijklmnopqrstuvw0000gn/T/", // a terminal's
		"/private/var/folders/xy/abcdefgh_ijklmnopqrstuvw0000gn/T/",
		"/tmp", // launchd without a per-user TMPDIR
		"",     // none at all
	} {
		t.Setenv("TMPDIR", tmp)
		if got := darwinPaths(home, uid); got != want {
			t.Errorf("TMPDIR=%q: paths %+v, want %+v", tmp, got, want)
		}
		t.Logf("TMPDIR=%-58q → run directory %s", tmp, darwinPaths(home, uid).Run)
	}
}

func TestMacRunDirFallsBackWhenTheHomeIsTooLong(t *testing.T) {
	const uid = 501
	// The longest home whose ~/.berth/run/docker.sock still fits 103 bytes.
	suffix := len("/.berth/run/docker.sock")
	fits := "/Users/" + strings.Repeat("a", sunPathMax-suffix-len("/Users/"))
	tooLong := fits + "b"
	if got, want := MacRunDir(fits, uid), fits+"/.berth/run"; got != want {
		t.Errorf("home of %d bytes: run directory %s, want %s", len(fits), got, want)
	}
	got := MacRunDir(tooLong, uid)
	if got != "/tmp/berth-501" {
		t.Errorf("home of %d bytes: run directory %s, want /tmp/berth-501", len(tooLong), got)
	}
	t.Logf("home of %d bytes → %s; %d bytes → %s", len(fits), MacRunDir(fits, uid), len(tooLong), got)
	for _, dir := range []string{MacRunDir(fits, uid), got, MacRunDir("/Users/x", 4294967294)} {
		for _, name := range []string{"docker.sock", "berth.sock", "net.sock", "pprof.sock"} {
			if sock := filepath.Join(dir, name); len(sock) > sunPathMax {
				t.Errorf("%s is %d bytes, over macOS's %d", sock, len(sock), sunPathMax)
			}
		}
	}
}

// Every socket the daemon makes is named within longestSocketName's length.
func TestLongestSocketName(t *testing.T) {
	p := Paths{Run: "/r"}
	for _, sock := range []string{p.ControlSocket(), p.NetSocket(), "/r/pprof.sock", "/r/docker.sock"} {
		if len(filepath.Base(sock)) > len(longestSocketName) {
			t.Errorf("%s is longer than %s", sock, longestSocketName)
		}
	}
}

// A run directory the sockets would not fit in (BERTH_HOME deep in a
// tree) is refused by Ensure with what to do, not by a listen later.
func TestEnsureRefusesARunDirectoryTooLongForSockets(t *testing.T) {
	for goos, limit := range map[string]int{"darwin": 103, "linux": 108} {
		dir := "/" + strings.Repeat("d", limit-len("/docker.sock")-1)
		if err := checkSocketRoom(goos, dir); err != nil {
			t.Errorf("%s: %d-byte directory refused: %v", goos, len(dir), err)
		}
		err := checkSocketRoom(goos, dir+"x")
		if err == nil || !strings.Contains(err.Error(), "too long for unix sockets") || !strings.Contains(err.Error(), "BERTH_HOME") {
			t.Errorf("%s: %d-byte directory: %v", goos, len(dir)+1, err)
		}
	}
	if runtime.GOOS == "linux" {
		base := t.TempDir()
		deep := filepath.Join(base, strings.Repeat("x", 112-len(base)))
		err := Paths{Config: base, Data: base, Run: deep}.Ensure()
		if err == nil || !strings.Contains(err.Error(), "too long") {
			t.Errorf("Ensure with a %d-byte run directory = %v", len(deep), err)
		}
		t.Logf("the error: %v", err)
	}
}

// The fallback run directory is made private and checked like the others.
func TestMacFallbackRunDirIsPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no unix modes")
	}
	base := t.TempDir()
	run := filepath.Join(base, "berth-"+strconv.Itoa(os.Getuid()))
	if err := os.Mkdir(run, 0o777); err != nil { // made by a looser umask
		t.Fatal(err)
	}
	if err := (Paths{Config: base, Data: base, Run: run}).Ensure(); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(run); fi.Mode().Perm() != 0o700 {
		t.Errorf("%s has mode %v, want 0700", run, fi.Mode().Perm())
	}
}

func TestFileEventsExclude(t *testing.T) {
	s := Default(Host{})
	if got := s.Excludes(); !slices.Equal(got, fswatch.DefaultExclude) {
		t.Errorf("defaults %q", got)
	}
	var none Settings
	if err := json.Unmarshal([]byte(`{"file_events_exclude": []}`), &none); err != nil || none.Excludes() == nil || len(none.Excludes()) != 0 {
		t.Errorf("an empty list must exclude nothing: %q %v", none.Excludes(), err)
	}
	if s.Equal(none) {
		t.Error("defaults and none compare equal")
	}
	s.FileEventsExclude = []string{"[", "/"}
	if err := s.Validate(Host{}, nil); err == nil || strings.Count(err.Error(), "file_events_exclude") != 2 {
		t.Errorf("bad patterns: %v", err)
	}
}
