package resolve

import (
	"strings"
	"testing"

	"github.com/berthvm/berth/packaging/imagebuild/archive"
)

const fixture = `Package: libc6
Version: 2.41-12
Architecture: amd64
Priority: optional
Filename: f
Size: 1
SHA256: 0

Package: libc6
Version: 2.40-1
Architecture: amd64
Filename: f
Size: 1
SHA256: 0

Package: base-files
Version: 13.8
Architecture: amd64
Essential: yes
Priority: required
Filename: f
Size: 1
SHA256: 0

Package: docker.io
Version: 26.1.5+dfsg1-9
Architecture: amd64
Depends: libc6 (>= 2.34), iptables | nftables, containerd (>= 1.6), runc (>= 1.1), tini
Recommends: git
Filename: f
Size: 1
SHA256: 0

Package: iptables
Version: 1.8.11-2
Architecture: amd64
Pre-Depends: libc6 (>= 2.38)
Depends: libxtables12 (= 1.8.11-2), perl-base
Filename: f
Size: 1
SHA256: 0

Package: libxtables12
Version: 1.8.11-2
Architecture: amd64
Filename: f
Size: 1
SHA256: 0

Package: perl-base
Version: 5.40
Architecture: amd64
Essential: yes
Filename: f
Size: 1
SHA256: 0

Package: containerd
Version: 1.7.24~ds1-6
Architecture: amd64
Depends: runc (>= 1.1)
Filename: f
Size: 1
SHA256: 0

Package: runc
Version: 1.1.15+ds1-2
Architecture: amd64
Filename: f
Size: 1
SHA256: 0

Package: tini
Version: 0.19.0-1
Architecture: amd64
Depends: awk
Filename: f
Size: 1
SHA256: 0

Package: mawk
Version: 1.3.4
Architecture: amd64
Provides: awk
Filename: f
Size: 1
SHA256: 0

Package: git
Version: 1
Architecture: amd64
Filename: f
Size: 1
SHA256: 0

Package: needs-new
Version: 1
Architecture: amd64
Depends: runc (>= 2.0)
Filename: f
Size: 1
SHA256: 0

Package: versioned-virtual
Version: 1
Architecture: amd64
Depends: awk (>= 1)
Filename: f
Size: 1
SHA256: 0
`

func index(t *testing.T) *Index {
	pkgs, err := archive.ParsePackages(strings.NewReader(fixture), "amd64", nil)
	if err != nil {
		t.Fatal(err)
	}
	return NewIndex(pkgs)
}

func names(ps []*archive.Package) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, ", ")
}

func TestResolve(t *testing.T) {
	ix := index(t)
	got, err := ix.Resolve(Request{Packages: append(ix.Base(), "docker.io"), Exclude: []string{"perl-base"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "base-files 13.8, containerd 1.7.24~ds1-6, docker.io 26.1.5+dfsg1-9, iptables 1.8.11-2, libc6 2.41-12, libxtables12 1.8.11-2, mawk 1.3.4, runc 1.1.15+ds1-2, tini 0.19.0-1"
	if names(got) != want {
		t.Errorf("resolved\n%s\nwant\n%s", names(got), want)
	}
}

func TestBase(t *testing.T) {
	if got := strings.Join(index(t).Base(), " "); got != "base-files perl-base" {
		t.Errorf("base = %s", got)
	}
}

func TestResolveErrors(t *testing.T) {
	ix := index(t)
	for req, want := range map[string]string{
		"nosuch":            `"nosuch" is not in the archive`,
		"awk":               "virtual: name one of its providers, e.g. mawk",
		"needs-new":         "needs-new 1 depends on runc (>= 2.0)",
		"versioned-virtual": "depends on awk (>= 1)",
	} {
		_, err := ix.Resolve(Request{Packages: []string{req}})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", req, err, want)
		}
	}
}
