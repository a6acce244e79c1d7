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

// Depends returns, for each module path, the paths of every module it
// needs, directly or not, in depmod's order: a module's dependencies come
// after it, so loading the list from the end satisfies each in turn.
func Depends(mods []Module) (map[string][]string, error) {
	exporter := map[string]string{} // symbol -> module path
	needs := map[string][]string{}  // module path -> undefined symbols
	for _, m := range mods {
		f, err := elf.NewFile(bytes.NewReader(m.ELF))
		if err != nil {
			return nil, fmt.Errorf("module %s: %w", m.Path, err)
		}
		if s := f.Section("__ksymtab_strings"); s != nil {
			b, err := s.Data()
			if err != nil {
				return nil, fmt.Errorf("module %s: %w", m.Path, err)
			}
			for _, name := range strings.Split(string(b), "\x00") {
				if name != "" {
					exporter[name] = m.Path
				}
			}
		}
		syms, err := f.Symbols()
		if err != nil && err != elf.ErrNoSymbols {
			return nil, fmt.Errorf("module %s: %w", m.Path, err)
		}
		for _, s := range syms {
			if s.Section == elf.SHN_UNDEF && s.Name != "" {
				needs[m.Path] = append(needs[m.Path], s.Name)
			}
		}
		f.Close()
	}
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
