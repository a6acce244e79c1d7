// Package resolve picks the packages an image needs from an archive's
// index: the base system, the recipe's packages and everything they
// Depend or Pre-Depend on, never Recommends. It chooses as apt would in the
// simple cases an image has: the first satisfiable alternative, the newest
// version, a virtual package through a real one that Provides it.
// Conflicts and Breaks are not checked: Debian's archive is co-installable
// in the cases images use, and a resolver that backtracks is not worth its
// weight here.
package resolve

import (
	"fmt"
	"slices"
	"strings"

	"github.com/berthvm/berth/packaging/imagebuild/archive"
	"github.com/berthvm/berth/packaging/imagebuild/control"
)

// Index is the packages of one architecture, newest version first per name.
type Index struct {
	byName    map[string][]*archive.Package
	providers map[string][]provider
}

type provider struct {
	pkg *archive.Package
	rel control.Relation // what it provides, possibly versioned
}

// NewIndex indexes the packages of one or more suites (e.g. trixie and
// trixie-security); for a name in several, the newest version wins.
func NewIndex(pkgs []*archive.Package) *Index {
	ix := &Index{byName: map[string][]*archive.Package{}, providers: map[string][]provider{}}
	for _, p := range pkgs {
		ix.byName[p.Name] = append(ix.byName[p.Name], p)
		for _, pr := range p.Provides {
			ix.providers[pr.Name] = append(ix.providers[pr.Name], provider{p, pr})
		}
	}
	for _, l := range ix.byName {
		slices.SortStableFunc(l, func(a, b *archive.Package) int { return control.Compare(b.Version, a.Version) })
	}
	for _, l := range ix.providers {
		slices.SortStableFunc(l, func(a, b provider) int {
			if c := strings.Compare(a.pkg.Name, b.pkg.Name); c != 0 {
				return c
			}
			return control.Compare(b.pkg.Version, a.pkg.Version)
		})
	}
	return ix
}

// Newest returns the newest version of a package, or nil.
func (ix *Index) Newest(name string) *archive.Package {
	if l := ix.byName[name]; len(l) > 0 {
		return l[0]
	}
	return nil
}

// Base returns the names of the packages a minimal Debian system starts
// from, as debootstrap's minbase does: Essential: yes and Priority: required.
func (ix *Index) Base() []string {
	var out []string
	for name, l := range ix.byName {
		if l[0].Essential || l[0].Priority == "required" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Request is what to resolve.
type Request struct {
	Packages []string // must exist by these names (not virtual)
	// Exclude are never installed, even when something depends on them:
	// what the image never runs (perl-base, dpkg, apt). Dependencies on them
	// count as met.
	Exclude []string
}

// Resolve returns the closure of req.Packages under Depends and
// Pre-Depends, sorted by name.
func (ix *Index) Resolve(req Request) ([]*archive.Package, error) {
	excluded := map[string]bool{}
	for _, n := range req.Exclude {
		excluded[n] = true
	}
	r := &resolver{ix: ix, excluded: excluded, selected: map[string]*archive.Package{}}
	for _, name := range req.Packages {
		if excluded[name] {
			continue
		}
		p := ix.Newest(name)
		if p == nil {
			hint := ""
			if len(ix.providers[name]) > 0 {
				hint = fmt.Sprintf(" (it is virtual: name one of its providers, e.g. %s)", ix.providers[name][0].pkg.Name)
			}
			return nil, fmt.Errorf("recipe package %q is not in the archive's index%s", name, hint)
		}
		r.add(p)
	}
	for len(r.queue) > 0 {
		p := r.queue[0]
		r.queue = r.queue[1:]
		for _, group := range slices.Concat(p.PreDepends, p.Depends) {
			if err := r.satisfy(p, group); err != nil {
				return nil, err
			}
		}
	}
	out := make([]*archive.Package, 0, len(r.selected))
	for _, p := range r.selected {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *archive.Package) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

type resolver struct {
	ix       *Index
	excluded map[string]bool
	selected map[string]*archive.Package
	queue    []*archive.Package
}

func (r *resolver) add(p *archive.Package) {
	if _, ok := r.selected[p.Name]; ok {
		return
	}
	r.selected[p.Name] = p
	r.queue = append(r.queue, p)
}

// met reports whether a selected (or excluded) package satisfies rel.
func (r *resolver) met(rel control.Relation) bool {
	if r.excluded[rel.Name] {
		return true
	}
	if p, ok := r.selected[rel.Name]; ok && rel.Satisfied(p.Version) {
		return true
	}
	for _, pr := range r.ix.providers[rel.Name] {
		if r.selected[pr.pkg.Name] == pr.pkg && provides(pr, rel) {
			return true
		}
	}
	return false
}

// provides: an unversioned Provides satisfies only unversioned relations.
func provides(pr provider, rel control.Relation) bool {
	if rel.Op == "" {
		return true
	}
	return pr.rel.Op == "=" && rel.Satisfied(pr.rel.Version)
}

func (r *resolver) satisfy(from *archive.Package, group control.Alternatives) error {
	for _, rel := range group {
		if r.met(rel) {
			return nil
		}
	}
	for _, rel := range group {
		for _, p := range r.ix.byName[rel.Name] {
			if rel.Satisfied(p.Version) {
				if sel, ok := r.selected[p.Name]; ok && sel != p {
					return fmt.Errorf("%s needs %s, but %s is already chosen", from, rel, sel)
				}
				r.add(p)
				return nil
			}
		}
		for _, pr := range r.ix.providers[rel.Name] {
			if provides(pr, rel) && !r.excluded[pr.pkg.Name] {
				if sel, ok := r.selected[pr.pkg.Name]; ok && sel != pr.pkg {
					continue
				}
				r.add(pr.pkg)
				return nil
			}
		}
	}
	return fmt.Errorf("%s depends on %s, which nothing in the archive satisfies", from, alternatives(group))
}

func alternatives(g control.Alternatives) string {
	s := make([]string, len(g))
	for i, rel := range g {
		s[i] = rel.String()
	}
	return strings.Join(s, " | ")
}
