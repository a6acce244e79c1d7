package hostproxy

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// A gsettings on PATH is asked on every call: a change is followed; a
// machine without GNOME's schema is direct, without an error.
func TestSystemReadsGSettingsEachTime(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	script := "#!/bin/sh\n[ \"$1 $2\" = \"list-recursively org.gnome.system.proxy\" ] || exit 9\ncat " + out + "\n" +
		"[ -s " + out + " ] || { echo 'No such schema “org.gnome.system.proxy”' >&2; exit 1; }\n"
	if err := os.WriteFile(filepath.Join(dir, "gsettings"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	src := System()
	if src == nil {
		t.Fatal("no source with gsettings on PATH")
	}
	for _, c := range []struct{ out, https string }{
		{"org.gnome.system.proxy mode 'manual'\norg.gnome.system.proxy.https host 'p'\norg.gnome.system.proxy.https port 1\n", "http://p:1"},
		{"org.gnome.system.proxy mode 'manual'\norg.gnome.system.proxy.https host 'p'\norg.gnome.system.proxy.https port 2\n", "http://p:2"},
		{"", ""},
	} {
		os.WriteFile(out, []byte(c.out), 0o644)
		s, err := src.Current(context.Background())
		if err != nil || s.HTTPS != c.https {
			t.Errorf("gsettings printing %q: %+v, %v; want https %q", c.out, s, err, c.https)
		}
	}
	t.Setenv("PATH", t.TempDir())
	if System() != nil { // (where the host has no gsettings of its own either)
		t.Error("a source without gsettings")
	}
}
