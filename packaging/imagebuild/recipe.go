// Package imagebuild builds Berth's guest image from Debian's archive by a
// recipe kept in the repo: packages fetched and verified (archive),
// resolved (resolve), unpacked (deb, fstree), configured without running
// maintainer scripts (configure), then written as a filesystem image and an
// initrd. Nothing in it needs root, Linux or the target's architecture.
package imagebuild

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berthvm/berth/packaging/imagebuild/configure"
)

// Recipe describes a guest image.
type Recipe struct {
	Sources []Source `json:"sources"`
	// PackagesFile lists the packages besides the base system, one a
	// line, # comments; relative to the recipe's directory.
	PackagesFile string `json:"packagesFile"`
	Packages     []string
	// Exclude are never installed even if something depends on them.
	Exclude []string `json:"exclude"`
	// Kernel is the kernel metapackage, "{arch}" replaced.
	Kernel string `json:"kernel"`
	// KernelPrune are module directories or files (under kernel/) for
	// hardware no VM of ours has, or for what a container engine's VM never
	// mounts or speaks (other disk filesystems, storage targets, RAID);
	// modules that need one of them go too.
	KernelPrune []string `json:"kernelPrune"`
	// InitrdModules are what guestd loads in the initrd to reach and
	// mount the system image; InitrdModulesArch adds per architecture.
	InitrdModules     []string            `json:"initrdModules"`
	InitrdModulesArch map[string][]string `json:"initrdModulesArch"`
	Configure         configure.Config    `json:"configure"`
}

// Source is a mirror and the suites taken from it.
type Source struct {
	Mirror string   `json:"mirror"`
	Suites []string `json:"suites"`
}

// LoadRecipe reads a recipe and its package list.
func LoadRecipe(path string) (*Recipe, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("recipe: %w", err)
	}
	var r Recipe
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("recipe %s: %w", path, err)
	}
	if r.PackagesFile != "" {
		f, err := os.Open(filepath.Join(filepath.Dir(path), r.PackagesFile))
		if err != nil {
			return nil, fmt.Errorf("recipe %s: %w", path, err)
		}
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			line, _, _ := strings.Cut(s.Text(), "#")
			r.Packages = append(r.Packages, strings.Fields(line)...)
		}
		if err := s.Err(); err != nil {
			return nil, fmt.Errorf("recipe %s: %w", f.Name(), err)
		}
	}
	if len(r.Sources) == 0 {
		return nil, fmt.Errorf("recipe %s: no sources", path)
	}
	return &r, nil
}

// WithSuite returns the recipe's sources for another Debian release:
// each suite's codename (the part before any "-updates" or "-security")
// replaced by suite, so one recipe builds trixie and bookworm images.
func (r *Recipe) WithSuite(suite string) {
	for i := range r.Sources {
		for j, s := range r.Sources[i].Suites {
			_, rest, _ := strings.Cut(s, "-")
			if rest != "" {
				rest = "-" + rest
			}
			r.Sources[i].Suites[j] = suite + rest
		}
	}
}
