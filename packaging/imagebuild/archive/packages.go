package archive

import (
	"fmt"
	"io"
	"strconv"

	"github.com/berthvm/berth/packaging/imagebuild/control"
)

// Package is one binary package of a Packages index.
type Package struct {
	Name, Arch, Filename, SHA256 string
	Version                      control.Version
	Size                         int64
	Priority                     string
	Essential                    bool
	Depends, PreDepends          []control.Alternatives
	Provides                     []control.Relation
	Source                       *Source // where Filename is found
}

// Source is the archive a package came from.
type Source struct {
	Mirror, Suite string
}

// ParsePackages reads a Packages index. Packages of another architecture
// than arch or "all" are skipped.
func ParsePackages(r io.Reader, arch string, src *Source) ([]*Package, error) {
	var out []*Package
	err := control.Each(r, func(s control.Stanza) error {
		a := s.Get("Architecture")
		if a != arch && a != "all" {
			return nil
		}
		p := &Package{
			Name: s.Get("Package"), Arch: a, Filename: s.Get("Filename"), SHA256: s.Get("SHA256"),
			Version: control.ParseVersion(s.Get("Version")), Priority: s.Get("Priority"),
			Essential: s.Get("Essential") == "yes", Source: src,
		}
		if p.Name == "" || p.Filename == "" || p.SHA256 == "" {
			return fmt.Errorf("Packages: stanza %q lacks Package, Filename or SHA256", p.Name)
		}
		var err error
		if p.Size, err = strconv.ParseInt(s.Get("Size"), 10, 64); err != nil {
			return fmt.Errorf("Packages: %s: size: %w", p.Name, err)
		}
		if p.Depends, err = control.ParseRelations(s.Get("Depends")); err != nil {
			return fmt.Errorf("Packages: %s: Depends: %w", p.Name, err)
		}
		if p.PreDepends, err = control.ParseRelations(s.Get("Pre-Depends")); err != nil {
			return fmt.Errorf("Packages: %s: Pre-Depends: %w", p.Name, err)
		}
		prov, err := control.ParseRelations(s.Get("Provides"))
		if err != nil {
			return fmt.Errorf("Packages: %s: Provides: %w", p.Name, err)
		}
		for _, alts := range prov {
			p.Provides = append(p.Provides, alts...)
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

func (p *Package) String() string { return p.Name + " " + p.Version.String() }
