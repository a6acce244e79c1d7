package hyperv

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The plan attaches only files in the user's folder: Hyper-V opens disks
// as the user, who may not grant a VM access to Program Files, and two
// users' VMs cannot hold one file.
func TestPlanAttachesTheUsersCopies(t *testing.T) {
	guest := guestDir(t)
	user := t.TempDir()
	spec := testSpec(guest)
	spec.DataDisk = filepath.Join(user, "data.vhdx")
	p, err := newPlan(spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range p.Disks {
		if !strings.HasPrefix(d, user+string(filepath.Separator)) {
			t.Errorf("attaches %s, outside the user's folder %s", d, user)
		}
	}
	for i, c := range p.Copies {
		if !strings.HasPrefix(c.From, guest) || c.To != p.Disks[i] {
			t.Errorf("copy %d: %+v", i, c)
		}
	}
}

// The copies are made once, kept while the installed image stays, and
// replaced (reporting progress) when an upgrade changes it.
func TestRefreshDisks(t *testing.T) {
	guest := t.TempDir()
	user := t.TempDir()
	os.MkdirAll(filepath.Join(guest, "hyperv"), 0o755)
	write := func(name, body string, at time.Time) {
		p := filepath.Join(guest, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, at, at)
	}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	write("manifest.json", `{"v":1}`, t0)
	write("hyperv/boot.vhdx", "boot-1", t0)
	write("hyperv/system.vhdx", "system-1", t0)
	boot, system := Disks(guest)
	ub, us := userDisks(filepath.Join(user, "data.vhdx"))
	pairs := []copyPair{{boot, ub}, {system, us}}
	var notes []string
	progress := func(s string) { notes = append(notes, s) }
	check := func(wantBoot, wantSystem string) {
		t.Helper()
		for f, want := range map[string]string{ub: wantBoot, us: wantSystem} {
			if b, err := os.ReadFile(f); err != nil || !bytes.Equal(b, []byte(want)) {
				t.Fatalf("%s = %q, %v; want %q", f, b, err, want)
			}
		}
	}

	if err := refreshDisks(guest, pairs, progress); err != nil {
		t.Fatal(err)
	}
	check("boot-1", "system-1")
	if len(notes) == 0 || !strings.Contains(notes[len(notes)-1], "100%") {
		t.Errorf("progress: %q", notes)
	}

	// Unchanged: nothing is copied (a change to the copy would survive).
	os.WriteFile(us, []byte("system-1"), 0o600)
	notes = nil
	if err := refreshDisks(guest, pairs, progress); err != nil || len(notes) != 0 {
		t.Fatalf("copied again: %v, %q", err, notes)
	}

	// An upgrade: new disks, a new manifest; the copies follow.
	t1 := t0.Add(time.Hour)
	write("manifest.json", `{"v":2}`, t1)
	write("hyperv/boot.vhdx", "boot-2", t1)
	write("hyperv/system.vhdx", "system-2, longer", t1)
	if err := refreshDisks(guest, pairs, progress); err != nil {
		t.Fatal(err)
	}
	check("boot-2", "system-2, longer")

	// A copy gone (or cut short: its .partial is never renamed) is made again.
	os.Remove(ub)
	if err := refreshDisks(guest, pairs, progress); err != nil {
		t.Fatal(err)
	}
	check("boot-2", "system-2, longer")
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(ub), "*.partial")); len(m) != 0 {
		t.Errorf("left %v", m)
	}

	// An installed image without its disks is an error naming them.
	os.Remove(system)
	if err := refreshDisks(guest, pairs, progress); err == nil || !strings.Contains(err.Error(), "system.vhdx") {
		t.Errorf("missing disk: %v", err)
	}
}
