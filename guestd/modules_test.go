//go:build linux

package main

import (
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Nothing in the guest loads a VMBus driver by its device's alias (no
// udev), so each one Hyper-V's guest needs must be named, and must exist
// under that name in the generic kernel that the Hyper-V image boots.
func TestHyperVModules(t *testing.T) {
	for _, m := range []string{"hv_sock", "hv_utils"} {
		if !slices.Contains(hypervModules, m) {
			t.Errorf("%s is not loaded on Hyper-V", m)
		}
	}
	trees, _ := filepath.Glob("../build/cache/*/amd64/kernel-generic/usr/lib/modules/*/kernel")
	if len(trees) == 0 {
		t.Skip("no generic kernel in build/cache (make guest-image-generic fetches one)")
	}
	for _, tree := range trees {
		have := map[string]bool{}
		filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
			if n, ok := strings.CutSuffix(strings.TrimSuffix(d.Name(), ".xz"), ".ko"); ok {
				have[strings.ReplaceAll(n, "-", "_")] = true
			}
			return nil
		})
		for _, m := range append(slices.Clone(hypervModules), scsiControllers[0]) {
			if !have[m] {
				t.Errorf("%s has no module %s", tree, m)
			}
		}
	}
}
