//go:build linux

package mounts

import (
	"strings"
	"testing"
)

func TestParseMountInfo(t *testing.T) {
	const info = `22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
40 22 0:35 / /mnt/my\040share rw - virtiofs share rw
41 22 0:36 / /var/lib/docker rw - ext4 /dev/vdb rw
`
	got, err := parseMountInfo(strings.NewReader(info))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/", "/proc", "/mnt/my share", "/var/lib/docker"} {
		if !got[p] {
			t.Errorf("%q missing from %v", p, got)
		}
	}
	if len(got) != 4 {
		t.Errorf("got %d mount points, want 4", len(got))
	}
	if _, err := parseMountInfo(strings.NewReader("garbage\n")); err == nil {
		t.Error("want an error for a malformed line")
	}
}

// The early plan must mount parents before children.
func TestEarlyOrder(t *testing.T) {
	seen := map[string]bool{"/": true}
	for _, m := range Early() {
		parent := m.Target[:strings.LastIndex(m.Target, "/")]
		if parent == "" {
			parent = "/"
		}
		for p := parent; p != "/"; p = p[:max(strings.LastIndex(p, "/"), 1)] {
			if isMountTarget(p) && !seen[p] {
				t.Errorf("%s is mounted before its parent %s", m.Target, p)
			}
		}
		seen[m.Target] = true
	}
}

func isMountTarget(p string) bool {
	for _, m := range Early() {
		if m.Target == p {
			return true
		}
	}
	return false
}

func TestMountPointsOfThisProcess(t *testing.T) {
	got, err := MountPoints()
	if err != nil {
		t.Fatal(err)
	}
	if !got["/"] || !got["/proc"] {
		t.Fatalf("/ and /proc should be mount points here: %v", got)
	}
}
