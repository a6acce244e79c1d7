//go:build linux

package main

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Nothing in the guest loads a VMBus driver by its device's alias (no
// udev), so each one Hyper-V's guest needs must be named, and must exist
// under that name in the generic kernel that the Hyper-V image boots.
func TestHyperVModules(t *testing.T) {
	for _, m := range []string{"hv_sock", "hv_utils", "hv_balloon"} {
		if !slices.Contains(hypervModules, m) {
			t.Errorf("%s is not loaded on Hyper-V", m)
		}
	}
	lists, _ := filepath.Glob("../build/cache/*/amd64/modules-generic.txt")
	if len(lists) == 0 {
		t.Skip("no generic kernel's module list in build/cache (make guest-image-generic writes one)")
	}
	for _, list := range lists {
		b, err := os.ReadFile(list)
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, p := range strings.Fields(string(b)) {
			if n, ok := strings.CutSuffix(path.Base(p), ".ko"); ok {
				have[strings.ReplaceAll(n, "-", "_")] = true
			}
		}
		for _, m := range append(slices.Clone(hypervModules), scsiControllers[0]) {
			if !have[m] {
				t.Errorf("%s has no module %s", list, m)
			}
		}
	}
}

// The guest image's kernel keeps the Hyper-V drivers: no prune of the
// recipe reaches drivers/hv (hv_balloon, hv_utils, hv_vmbus).
func TestRecipeKeepsHyperVDrivers(t *testing.T) {
	b, err := os.ReadFile("../packaging/guest/recipe.json")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		KernelPrune []string `json:"kernelPrune"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.KernelPrune) == 0 {
		t.Fatal("no kernelPrune in the recipe")
	}
	for _, p := range r.KernelPrune {
		for _, m := range []string{"drivers/hv/hv_balloon.ko", "drivers/hv/hv_utils.ko"} {
			if m == p || strings.HasPrefix(m, strings.TrimSuffix(p, "/")+"/") {
				t.Errorf("kernelPrune %q drops %s", p, m)
			}
		}
	}
}
