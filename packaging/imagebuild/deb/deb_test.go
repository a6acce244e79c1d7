package deb_test

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"testing"

	"github.com/berthvm/berth/packaging/imagebuild/deb"
	"github.com/berthvm/berth/packaging/imagebuild/deb/debtest"
	"github.com/berthvm/berth/packaging/imagebuild/fstree"
)

func TestReadApply(t *testing.T) {
	files := []tar.Header{
		{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./bin/ping", Typeflag: tar.TypeReg, Mode: 0o4755, PAXRecords: map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02"}},
		{Name: "./bin/pong", Typeflag: tar.TypeLink, Linkname: "./bin/ping"},
		{Name: "./usr/share/doc/x/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./usr/share/doc/x/link", Typeflag: tar.TypeSymlink, Linkname: "../../../bin/ping"},
		{Name: "./var/spool/cron/", Typeflag: tar.TypeDir, Mode: 0o1730, Gid: 101},
	}
	for _, comp := range []string{"xz", "zst", "gz", ""} {
		t.Run("comp="+comp, func(t *testing.T) {
			b, err := debtest.Build(comp, "Package: x\n", files, map[string]string{"./bin/ping": "ELF"})
			if err != nil {
				t.Fatal(err)
			}
			entries, err := deb.Read(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			tr := fstree.New()
			// merged /usr, as the builder lays it out before unpacking
			tr.MkdirAll("/usr/bin", 0o755)
			tr.Symlink("usr/bin", "/bin")
			if err := deb.Apply(tr, entries); err != nil {
				t.Fatal(err)
			}
			ping := tr.Get("/usr/bin/ping")
			if ping == nil || string(ping.Data) != "ELF" || ping.Mode != fs.ModeSetuid|0o755 || string(ping.Xattrs["security.capability"]) != "\x01\x00\x00\x02" {
				t.Fatalf("ping: %+v", ping)
			}
			if tr.Get("/usr/bin/pong") != ping {
				t.Error("hard link is not the same inode")
			}
			if bin := tr.Get("/bin"); bin == nil || bin.Mode&fs.ModeSymlink == 0 {
				t.Error("/bin directory entry replaced the merged-/usr symlink")
			}
			if l := tr.Get("/usr/share/doc/x/link"); l == nil || l.Target != "../../../bin/ping" {
				t.Errorf("symlink: %+v", l)
			}
			if d := tr.Get("/var/spool/cron"); d == nil || d.Mode != fs.ModeDir|fs.ModeSticky|0o730 || d.GID != 101 {
				t.Errorf("cron dir: %+v", d)
			}
		})
	}
}

func TestNotADeb(t *testing.T) {
	if _, err := deb.Read(bytes.NewReader([]byte("PK\x03\x04"))); err == nil {
		t.Fatal("zip accepted as .deb")
	}
}
