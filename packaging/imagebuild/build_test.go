package imagebuild

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthvm/berth/packaging/imagebuild/archive"
	"github.com/berthvm/berth/packaging/imagebuild/configure"
	"github.com/berthvm/berth/packaging/imagebuild/control"
	"github.com/berthvm/berth/packaging/imagebuild/deb/debtest"
)

// fakeArchive serves tiny packages built in the test.
type fakeArchive struct {
	pkgs  []*archive.Package
	files map[string]string // sha256 -> path
}

func (f *fakeArchive) Index(ctx context.Context, src *archive.Source, arch string) ([]*archive.Package, error) {
	return f.pkgs, nil
}

func (f *fakeArchive) Deb(ctx context.Context, p *archive.Package) (string, error) {
	return f.files[p.SHA256], nil
}

func (f *fakeArchive) add(t *testing.T, name, depends string, essential bool, files []tar.Header, contents map[string]string) {
	b, err := debtest.Build("xz", "Package: "+name+"\n", files, contents)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	h := hex.EncodeToString(sum[:])
	path := filepath.Join(t.TempDir(), name+".deb")
	os.WriteFile(path, b, 0o644)
	deps, _ := control.ParseRelations(depends)
	f.pkgs = append(f.pkgs, &archive.Package{Name: name, Version: control.ParseVersion("1.0"), Arch: "amd64", SHA256: h, Essential: essential, Depends: deps})
	f.files[h] = path
}

func dir(name string) tar.Header { return tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755} }
func file(name string, mode int64) tar.Header {
	return tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode}
}

// fixtureArchive: a base (base-passwd essential), a "daemon" that needs a
// library, a CA package, and something docs to prune.
func fixtureArchive(t *testing.T) *fakeArchive {
	f := &fakeArchive{files: map[string]string{}}
	f.add(t, "base-passwd", "", true, []tar.Header{dir("./usr/share/base-passwd/"), file("./usr/share/base-passwd/passwd.master", 0o644), file("./usr/share/base-passwd/group.master", 0o644)},
		map[string]string{"./usr/share/base-passwd/passwd.master": "root:x:0:0:root:/root:/bin/sh\n", "./usr/share/base-passwd/group.master": "root:x:0:\n"})
	f.add(t, "libfoo1", "", false, []tar.Header{dir("./lib/x86_64-linux-gnu/"), file("./lib/x86_64-linux-gnu/libfoo.so.1", 0o644)}, map[string]string{"./lib/x86_64-linux-gnu/libfoo.so.1": "lib"})
	f.add(t, "daemon", "libfoo1, perl-base", false, []tar.Header{dir("./sbin/"), file("./sbin/daemond", 0o755), dir("./usr/share/doc/daemon/"), file("./usr/share/doc/daemon/README", 0o644)},
		map[string]string{"./sbin/daemond": "#!/bin/sh\n"})
	f.add(t, "ca-certificates", "", false, []tar.Header{dir("./usr/share/ca-certificates/mozilla/"), file("./usr/share/ca-certificates/mozilla/X.crt", 0o644)}, map[string]string{"./usr/share/ca-certificates/mozilla/X.crt": "X\n"})
	return f
}

func testBuilder(f Fetcher) *Builder {
	return &Builder{Fetch: f, Log: slog.New(slog.DiscardHandler), Arch: "amd64", Epoch: time.Unix(1700000000, 0)}
}

func fixtureRecipe() *Recipe {
	return &Recipe{
		Sources:  []Source{{Mirror: "http://example.invalid/debian", Suites: []string{"test"}}},
		Packages: []string{"daemon", "ca-certificates"},
		Exclude:  []string{"perl-base"},
		Configure: configure.Config{
			Groups: []string{"docker"},
			Remove: []string{"/usr/share/doc"},
		},
	}
}

func TestBuild(t *testing.T) {
	root, err := testBuilder(fixtureArchive(t)).Build(context.Background(), fixtureRecipe())
	if err != nil {
		t.Fatal(err)
	}
	tr := root.Tree
	if n := tr.Get("/usr/sbin/daemond"); n == nil || n.Mode != 0o755 {
		t.Errorf("daemond not under /usr/sbin: %+v", n)
	}
	if tr.Get("/usr/lib/x86_64-linux-gnu/libfoo.so.1") == nil {
		t.Error("libfoo not under /usr/lib")
	}
	if l := tr.Get("/lib64"); l == nil || l.Target != "usr/lib64" {
		t.Error("no merged-/usr /lib64 link")
	}
	if tr.Get("/usr/share/doc") != nil {
		t.Error("docs not pruned")
	}
	if g := string(tr.Get("/etc/group").Data); !strings.Contains(g, "docker:x:100:") {
		t.Errorf("group: %q", g)
	}
	if s := string(tr.Get("/etc/shadow").Data); s != fmt.Sprintf("root:*:%d:0:99999:7:::\n", 1700000000/86400) {
		t.Errorf("shadow: %q", s)
	}
	if b := string(tr.Get("/etc/ssl/certs/ca-certificates.crt").Data); b != "X\n" {
		t.Errorf("CA bundle %q", b)
	}
	m := root.Manifest()
	if !strings.HasPrefix(m, "base-passwd 1.0 ") || strings.Count(m, "\n") != 4 {
		t.Errorf("manifest:\n%s", m)
	}
}

func TestBuildUnknownPackage(t *testing.T) {
	r := fixtureRecipe()
	r.Packages = append(r.Packages, "no-such-package")
	_, err := testBuilder(fixtureArchive(t)).Build(context.Background(), r)
	if err == nil || !strings.Contains(err.Error(), `"no-such-package"`) {
		t.Fatalf("unknown package: %v", err)
	}
}

func TestWithSuite(t *testing.T) {
	r := &Recipe{Sources: []Source{{Suites: []string{"trixie", "trixie-updates"}}, {Suites: []string{"trixie-security"}}}}
	r.WithSuite("bookworm")
	got := fmt.Sprint(r.Sources[0].Suites, r.Sources[1].Suites)
	if want := "[bookworm bookworm-updates] [bookworm-security]"; got != want {
		t.Fatalf("suites %s, want %s", got, want)
	}
}
