package imagearchive

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// makeRootFS builds a small tree that exercises every supported entry type.
// Modes are set with Chmod so the umask cannot change them.
func makeRootFS(t *testing.T) (root, outside string) {
	t.Helper()
	root = t.TempDir()
	outside = t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(outside, "secret"), []byte("do not follow"), 0o644))
	must(os.MkdirAll(filepath.Join(root, "bin"), 0o755))
	must(os.WriteFile(filepath.Join(root, "bin", "busybox"), []byte("#!busybox\n"), 0o755))
	must(os.Chmod(filepath.Join(root, "bin", "busybox"), 0o755))
	must(os.Symlink("busybox", filepath.Join(root, "bin", "sh")))
	must(os.MkdirAll(filepath.Join(root, "etc", "app"), 0o755))
	must(os.WriteFile(filepath.Join(root, "etc", "app", "conf"), []byte("k=v\n"), 0o600))
	must(os.Chmod(filepath.Join(root, "etc", "app", "conf"), 0o640))
	must(os.Chmod(filepath.Join(root, "etc", "app"), 0o750))
	must(os.MkdirAll(filepath.Join(root, "tmp"), 0o755))
	must(os.Chmod(filepath.Join(root, "tmp"), 0o777|os.ModeSticky))
	must(os.Symlink(outside, filepath.Join(root, "escape")))
	return root, outside
}

func testImage(root string) Image {
	return Image{
		Tags: []string{"berth/welcome:latest", "berth/welcome:v1", "localhost:5000/x:1"},
		Arch: "arm64",
		Config: Config{
			Entrypoint:   []string{"/bin/sh", "-c"},
			Cmd:          []string{"echo hi && sleep 1"},
			Env:          []string{"PATH=/bin", "A=b=c"},
			WorkingDir:   "/srv",
			ExposedPorts: []string{"80/tcp", "53/udp", "8080"},
			Labels:       map[string]string{"org.example": "yes"},
		},
		RootFS: root,
	}
}

func write(t *testing.T, img Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, img); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes()
}

type entry struct {
	hdr  *tar.Header
	data []byte
}

// readTar returns entries in archive order plus an index by name.
func readTar(t *testing.T, b []byte) ([]entry, map[string]entry) {
	t.Helper()
	var list []entry
	byName := map[string]entry{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("read %s: %v", hdr.Name, err)
		}
		if _, dup := byName[hdr.Name]; dup {
			t.Errorf("duplicate entry %s", hdr.Name)
		}
		e := entry{hdr, data}
		list = append(list, e)
		byName[hdr.Name] = e
	}
	return list, byName
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestWriteArchive(t *testing.T) {
	root, _ := makeRootFS(t)
	created := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	img := testImage(root)
	img.Created = created
	_, files := readTar(t, write(t, img))

	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"].data, &manifest); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(manifest) != 1 || len(manifest[0].Layers) != 1 {
		t.Fatalf("manifest = %+v, want one image with one layer", manifest)
	}
	m := manifest[0]
	if !reflect.DeepEqual(m.RepoTags, img.Tags) {
		t.Errorf("RepoTags = %q, want %q", m.RepoTags, img.Tags)
	}

	cfgEntry, ok := files[m.Config]
	if !ok {
		t.Fatalf("config %s missing from archive", m.Config)
	}
	if want := sha(cfgEntry.data) + ".json"; m.Config != want {
		t.Errorf("config name %s, want sha256 of contents %s", m.Config, want)
	}
	layerEntry, ok := files[m.Layers[0]]
	if !ok {
		t.Fatalf("layer %s missing from archive", m.Layers[0])
	}
	layerHex := sha(layerEntry.data)
	if want := layerHex + "/layer.tar"; m.Layers[0] != want {
		t.Errorf("layer path %s, want %s", m.Layers[0], want)
	}
	if string(files[layerHex+"/VERSION"].data) != "1.0" {
		t.Errorf("legacy VERSION = %q", files[layerHex+"/VERSION"].data)
	}

	var cfg struct {
		Architecture string
		OS           string
		Created      time.Time
		Config       struct {
			Entrypoint, Cmd, Env []string
			WorkingDir           string
			ExposedPorts         map[string]struct{}
			Labels               map[string]string
		}
		RootFS struct {
			Type    string
			DiffIDs []string `json:"diff_ids"`
		}
		History []struct {
			Created   time.Time
			CreatedBy string `json:"created_by"`
		}
	}
	if err := json.Unmarshal(cfgEntry.data, &cfg); err != nil {
		t.Fatalf("config: %v", err)
	}
	if cfg.Architecture != "arm64" || cfg.OS != "linux" {
		t.Errorf("platform = %s/%s, want linux/arm64", cfg.OS, cfg.Architecture)
	}
	if !cfg.Created.Equal(created) {
		t.Errorf("created = %v, want %v", cfg.Created, created)
	}
	if cfg.RootFS.Type != "layers" || !reflect.DeepEqual(cfg.RootFS.DiffIDs, []string{"sha256:" + layerHex}) {
		t.Errorf("rootfs = %+v, want layers [sha256:%s]", cfg.RootFS, layerHex)
	}
	if len(cfg.History) != 1 || cfg.History[0].CreatedBy == "" {
		t.Errorf("history = %+v, want one entry", cfg.History)
	}
	c := cfg.Config
	if !reflect.DeepEqual(c.Entrypoint, img.Config.Entrypoint) || !reflect.DeepEqual(c.Cmd, img.Config.Cmd) ||
		!reflect.DeepEqual(c.Env, img.Config.Env) || c.WorkingDir != "/srv" ||
		!reflect.DeepEqual(c.Labels, img.Config.Labels) {
		t.Errorf("runtime config = %+v", c)
	}
	if want := map[string]struct{}{"80/tcp": {}, "53/udp": {}, "8080/tcp": {}}; !reflect.DeepEqual(c.ExposedPorts, want) {
		t.Errorf("ExposedPorts = %v, want %v", c.ExposedPorts, want)
	}
	if !bytes.Contains(cfgEntry.data, []byte("&&")) {
		t.Errorf("config escapes HTML characters: %s", cfgEntry.data)
	}

	var repos map[string]map[string]string
	if err := json.Unmarshal(files["repositories"].data, &repos); err != nil {
		t.Fatalf("repositories: %v", err)
	}
	wantRepos := map[string]map[string]string{
		"berth/welcome":    {"latest": layerHex, "v1": layerHex},
		"localhost:5000/x": {"1": layerHex},
	}
	if !reflect.DeepEqual(repos, wantRepos) {
		t.Errorf("repositories = %v, want %v", repos, wantRepos)
	}

	checkLayer(t, layerEntry.data, created)
}

func checkLayer(t *testing.T, layer []byte, mtime time.Time) {
	t.Helper()
	list, _ := readTar(t, layer)
	type want struct {
		name     string
		typ      byte
		mode     int64
		linkname string
		data     string
	}
	wants := []want{
		{"bin/", tar.TypeDir, 0o755, "", ""},
		{"bin/busybox", tar.TypeReg, 0o755, "", "#!busybox\n"},
		{"bin/sh", tar.TypeSymlink, 0o777, "busybox", ""},
		{"escape", tar.TypeSymlink, 0o777, "", ""}, // target checked below
		{"etc/", tar.TypeDir, 0o755, "", ""},
		{"etc/app/", tar.TypeDir, 0o750, "", ""},
		{"etc/app/conf", tar.TypeReg, 0o640, "", "k=v\n"},
		{"tmp/", tar.TypeDir, 0o1777, "", ""},
	}
	var names []string
	for _, e := range list {
		names = append(names, e.hdr.Name)
	}
	var wantNames []string
	for _, w := range wants {
		wantNames = append(wantNames, w.name)
	}
	if !reflect.DeepEqual(names, wantNames) {
		t.Fatalf("layer entries = %q, want %q", names, wantNames)
	}
	for i, w := range wants {
		h := list[i].hdr
		if h.Typeflag != w.typ {
			t.Errorf("%s: type %q, want %q", w.name, h.Typeflag, w.typ)
		}
		if h.Mode != w.mode {
			t.Errorf("%s: mode %o, want %o", w.name, h.Mode, w.mode)
		}
		if w.linkname != "" && h.Linkname != w.linkname {
			t.Errorf("%s: link target %q, want %q", w.name, h.Linkname, w.linkname)
		}
		if string(list[i].data) != w.data {
			t.Errorf("%s: data %q, want %q", w.name, list[i].data, w.data)
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: owner %d:%d, want 0:0", w.name, h.Uid, h.Gid)
		}
		if !h.ModTime.Equal(mtime) {
			t.Errorf("%s: mtime %v, want %v", w.name, h.ModTime, mtime)
		}
	}
	// The escaping symlink must be stored verbatim, not followed.
	if esc := list[3].hdr; !filepath.IsAbs(esc.Linkname) {
		t.Errorf("escape: link target %q, want the absolute outside path", esc.Linkname)
	}
}

func TestWriteDeterministic(t *testing.T) {
	root, _ := makeRootFS(t)
	img := testImage(root)
	a := write(t, img)

	// Host mtimes and map iteration order must not leak into the output.
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(root, "bin", "busybox"), old, old); err != nil {
		t.Fatal(err)
	}
	img.Config.Labels = map[string]string{"z": "1", "a": "2", "m": "3"}
	b1 := write(t, img)
	b2 := write(t, img)
	if !bytes.Equal(b1, b2) {
		t.Fatal("two writes of the same image differ")
	}
	img.Config.Labels = testImage(root).Config.Labels
	if b := write(t, img); !bytes.Equal(a, b) {
		t.Fatal("changing a file's mtime changed the archive")
	}

	// Default Created is the epoch, and it is what every entry carries.
	_, files := readTar(t, a)
	for name, e := range files {
		if e.hdr.ModTime.Unix() != 0 {
			t.Errorf("%s: mtime %v, want Unix epoch", name, e.hdr.ModTime)
		}
	}
}

func TestWriteLeavesNoTempFiles(t *testing.T) {
	root, _ := makeRootFS(t)
	img := testImage(root)
	img.TempDir = t.TempDir()
	write(t, img)
	// A failing writer must also clean up.
	if err := Write(failWriter{}, img); err == nil {
		t.Fatal("Write to failing writer succeeded")
	}
	left, err := os.ReadDir(img.TempDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("temp files left behind: %v", left)
	}
}

var errBoom = errors.New("boom")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errBoom }

func TestWriteErrorsAreWrapped(t *testing.T) {
	root, _ := makeRootFS(t)
	err := Write(failWriter{}, testImage(root))
	if !errors.Is(err, errBoom) {
		t.Errorf("err = %v, want it to wrap the writer's error", err)
	}

	if err := os.WriteFile(filepath.Join(root, ".wh.gone"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err = Write(io.Discard, testImage(root))
	if err == nil || !strings.Contains(err.Error(), "write layer ") || !strings.Contains(err.Error(), ".wh.gone") {
		t.Errorf("whiteout-named file: err = %v, want a write layer error naming the path", err)
	}
}

func TestWriteSymlinkedRoot(t *testing.T) {
	root, _ := makeRootFS(t)
	link := filepath.Join(t.TempDir(), "rootlink")
	if err := os.Symlink(root, link); err != nil {
		t.Fatal(err)
	}
	a := write(t, testImage(root))
	if b := write(t, testImage(link)); !bytes.Equal(a, b) {
		t.Error("archive from a symlink to the rootfs differs from the rootfs itself")
	}
}

func TestWriteValidation(t *testing.T) {
	root, _ := makeRootFS(t)
	file := filepath.Join(root, "bin", "busybox")
	tests := []struct {
		name   string
		modify func(*Image)
		want   string
	}{
		{"no tags", func(i *Image) { i.Tags = nil }, "at least one tag"},
		{"untagged", func(i *Image) { i.Tags = []string{"busybox"} }, "missing :TAG"},
		{"empty tag", func(i *Image) { i.Tags = []string{"busybox:"} }, "tag must match"},
		{"uppercase", func(i *Image) { i.Tags = []string{"Busybox:1"} }, "bad name component"},
		{"space in tag", func(i *Image) { i.Tags = []string{"busybox:a b"} }, "tag must match"},
		{"empty component", func(i *Image) { i.Tags = []string{"a//b:1"} }, "bad name component"},
		{"digest", func(i *Image) { i.Tags = []string{"a@sha256:" + strings.Repeat("0", 64)} }, "digest"},
		{"duplicate", func(i *Image) { i.Tags = []string{"a:1", "a:1"} }, "duplicate tag"},
		{"no arch", func(i *Image) { i.Arch = "" }, "architecture not set"},
		{"bad arch", func(i *Image) { i.Arch = "x86_64" }, "invalid architecture"},
		{"bad variant", func(i *Image) { i.Arch = "arm/7" }, "variant"},
		{"bad proto", func(i *Image) { i.Config.ExposedPorts = []string{"80/xyz"} }, "protocol"},
		{"bad port", func(i *Image) { i.Config.ExposedPorts = []string{"abc"} }, "1 to 65535"},
		{"port zero", func(i *Image) { i.Config.ExposedPorts = []string{"0/tcp"} }, "1 to 65535"},
		{"port too big", func(i *Image) { i.Config.ExposedPorts = []string{"65536"} }, "1 to 65535"},
		{"bad env", func(i *Image) { i.Config.Env = []string{"NOVALUE"} }, "KEY=value"},
		{"empty env key", func(i *Image) { i.Config.Env = []string{"=x"} }, "KEY=value"},
		{"relative workdir", func(i *Image) { i.Config.WorkingDir = "srv" }, "absolute"},
		{"empty label key", func(i *Image) { i.Config.Labels = map[string]string{"": "x"} }, "label"},
		{"no rootfs", func(i *Image) { i.RootFS = "" }, "rootfs directory not set"},
		{"missing rootfs", func(i *Image) { i.RootFS = filepath.Join(root, "nope") }, "no such file"},
		{"rootfs is file", func(i *Image) { i.RootFS = file }, "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := testImage(root)
			tt.modify(&img)
			err := Write(io.Discard, img)
			if err == nil {
				t.Fatalf("Write succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseTag(t *testing.T) {
	valid := []struct{ in, repo, tag string }{
		{"busybox:latest", "busybox", "latest"},
		{"berth/welcome:v1.2-rc_3", "berth/welcome", "v1.2-rc_3"},
		{"localhost:5000/a/b:1", "localhost:5000/a/b", "1"},
		{"Registry.Example.com/x:y", "Registry.Example.com/x", "y"},
		{"a__b.c--d_e:_", "a__b.c--d_e", "_"},
		{"localhost:5000", "localhost", "5000"}, // docker reads this as name:tag too
	}
	for _, v := range valid {
		repo, tag, err := ParseTag(v.in)
		if err != nil || repo != v.repo || tag != v.tag {
			t.Errorf("ParseTag(%q) = %q, %q, %v; want %q, %q", v.in, repo, tag, err, v.repo, v.tag)
		}
	}
	invalid := []string{
		":x", "a:.x", "a:" + strings.Repeat("x", 129), "a_:x", "-a:x", "a___b:x", "a..b:x",
		"a/:x", "host:/a:x", "-host.com/a:x", "host:5x/a:x", strings.Repeat("a", 256) + ":x",
		"a/B:x", "a:b/c",
	}
	for _, s := range invalid {
		if _, _, err := ParseTag(s); err == nil {
			t.Errorf("ParseTag(%q) succeeded, want error", s)
		}
	}
}

func TestParsePort(t *testing.T) {
	for in, want := range map[string]string{"80": "80/tcp", "53/UDP": "53/udp", "080/sctp": "80/sctp", "65535/tcp": "65535/tcp"} {
		if got, err := ParsePort(in); err != nil || got != want {
			t.Errorf("ParsePort(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "/tcp", "80/", "-1", "+80", "80-90/tcp", "80/tcp/x", " 80"} {
		if got, err := ParsePort(in); err == nil {
			t.Errorf("ParsePort(%q) = %q, want error", in, got)
		}
	}
}
