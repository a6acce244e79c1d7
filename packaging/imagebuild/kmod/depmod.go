// Package kmod does depmod's job for a kernel's modules without running it:
// which module needs which, from the symbols each exports and uses, written
// as modules.dep (what guestd's loader reads).
package kmod

import (
	"bytes"
	"debug/elf"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Module is one .ko: its path relative to the modules directory and its
// uncompressed ELF.
type Module struct {
	Path string
	ELF  []byte
}

// symbols is who exports each symbol among a set of modules, and which
// symbols each module uses but does not define. A symbol no module exports
// is the kernel's own.
type symbols struct {
	exporter map[string]string   // symbol -> module path
	needs    map[string][]string // module path -> undefined symbols
}

func readSymbols(mods []Module) (symbols, error) {
	s := symbols{exporter: map[string]string{}, needs: map[string][]string{}}
	for _, m := range mods {
		f, err := elf.NewFile(bytes.NewReader(m.ELF))
		if err != nil {
			return s, fmt.Errorf("module %s: %w", m.Path, err)
		}
		if sec := f.Section("__ksymtab_strings"); sec != nil {
			b, err := sec.Data()
			if err != nil {
				return s, fmt.Errorf("module %s: %w", m.Path, err)
			}
			for _, name := range strings.Split(string(b), "\x00") {
				if name != "" {
					s.exporter[name] = m.Path
				}
			}
		}
		syms, err := f.Symbols()
		if err != nil && err != elf.ErrNoSymbols {
			return s, fmt.Errorf("module %s: %w", m.Path, err)
		}
		for _, sym := range syms {
			if sym.Section == elf.SHN_UNDEF && sym.Name != "" {
				s.needs[m.Path] = append(s.needs[m.Path], sym.Name)
			}
		}
		f.Close()
	}
	return s, nil
}

// Prune removes the modules drop selects, then every module that uses a
// symbol only a removed one exported, until none is left: a pruned
// directory must not leave behind a module that fails to load. It returns
// the modules kept and, sorted, those removed for what they use.
func Prune(mods []Module, drop func(path string) bool) ([]Module, []string, error) {
	s, err := readSymbols(mods)
	if err != nil {
		return nil, nil, err
	}
	gone := map[string]bool{}
	for _, m := range mods {
		if drop(m.Path) {
			gone[m.Path] = true
		}
	}
	orphans := s.orphans(gone)
	var kept []Module
	for _, m := range mods {
		if !gone[m.Path] {
			kept = append(kept, m)
		}
	}
	return kept, orphans, nil
}

// orphans adds to gone every module that needs a symbol exported only by a
// module in gone, transitively, and returns those it added, sorted.
func (s symbols) orphans(gone map[string]bool) []string {
	var added []string
	for changed := true; changed; {
		changed = false
		for p, syms := range s.needs {
			if gone[p] {
				continue
			}
			for _, sym := range syms {
				if e, ok := s.exporter[sym]; ok && gone[e] {
					gone[p], changed = true, true
					added = append(added, p)
					break
				}
			}
		}
	}
	slices.Sort(added)
	return added
}

// Depends returns, for each module path, the paths of every module it
// needs, directly or not, in depmod's order: a module's dependencies come
// after it, so loading the list from the end satisfies each in turn.
func Depends(mods []Module) (map[string][]string, error) {
	s, err := readSymbols(mods)
	if err != nil {
		return nil, err
	}
	exporter, needs := s.exporter, s.needs
	direct := map[string][]string{}
	for _, m := range mods {
		set := map[string]bool{}
		for _, sym := range needs[m.Path] {
			if e, ok := exporter[sym]; ok && e != m.Path {
				set[e] = true
			}
		}
		direct[m.Path] = slices.Sorted(maps.Keys(set))
	}
	out := map[string][]string{}
	for _, m := range mods {
		// Depth-first, post-order: dependencies before their users; then
		// reversed into depmod's order.
		var order []string
		seen := map[string]bool{m.Path: true}
		var visit func(p string)
		visit = func(p string) {
			for _, d := range direct[p] {
				if !seen[d] {
					seen[d] = true
					visit(d)
					order = append(order, d)
				}
			}
		}
		visit(m.Path)
		slices.Reverse(order)
		out[m.Path] = order
	}
	return out, nil
}

// ModulesDep formats depmod's modules.dep, in the order of paths.
func ModulesDep(paths []string, deps map[string][]string) []byte {
	var b bytes.Buffer
	for _, p := range paths {
		b.WriteString(p + ":")
		for _, d := range deps[p] {
			b.WriteString(" " + d)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}
