//go:build linux || darwin

package autostart

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnableDisable(t *testing.T) {
	a := At{Dir: filepath.Join(t.TempDir(), "autostart")}
	if on, err := a.Enabled(); err != nil || on {
		t.Fatalf("fresh: enabled=%v err=%v", on, err)
	}
	if err := a.Enable(Entry{Exe: "/usr/bin/berth", Args: []string{"gui", "--hidden"}}); err != nil {
		t.Fatal(err)
	}
	if on, err := a.Enabled(); err != nil || !on {
		t.Fatalf("after Enable: enabled=%v err=%v", on, err)
	}
	b, err := os.ReadFile(filepath.Join(a.Dir, fileName))
	if err != nil || !strings.Contains(string(b), `"/usr/bin/berth" "gui" "--hidden"`) {
		t.Errorf("entry: %s (%v)", b, err)
	}
	if err := a.Disable(); err != nil {
		t.Fatal(err)
	}
	if err := a.Disable(); err != nil {
		t.Fatalf("second Disable: %v", err)
	}
	if on, _ := a.Enabled(); on {
		t.Error("still enabled after Disable")
	}
}
