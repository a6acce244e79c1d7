//go:build linux

// Package kmod loads Linux kernel modules the way modprobe does, without
// shipping kmod's tools in the initrd: it reads modules.dep, orders
// dependencies first and calls finit_module on each uncompressed .ko.
package kmod

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Index knows where each module of one kernel lives and what it needs.
type Index struct {
	dir     string              // /lib/modules/<release>
	deps    map[string][]string // module name -> relative paths of its dependencies
	paths   map[string]string   // module name -> relative path
	builtin map[string]bool
}

// Name normalises a module name or file name the way the kernel does:
// "nf_tables.ko" and "nf-tables" both become "nf_tables".
func Name(s string) string {
	s = path.Base(s)
	s = strings.TrimSuffix(s, ".ko")
	return strings.ReplaceAll(s, "-", "_")
}

// Open reads modules.dep and modules.builtin from dir.
func Open(dir string) (*Index, error) {
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("open module index: %w", err)
	}
	defer f.Close()
	idx, err := parseDep(f)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", f.Name(), err)
	}
	idx.dir = dir
	if b, err := os.Open(filepath.Join(dir, "modules.builtin")); err == nil {
		defer b.Close()
		s := bufio.NewScanner(b)
		for s.Scan() {
			if line := strings.TrimSpace(s.Text()); line != "" {
				idx.builtin[Name(line)] = true
			}
		}
		if err := s.Err(); err != nil {
			return nil, fmt.Errorf("read modules.builtin: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open modules.builtin: %w", err)
	}
	return idx, nil
}

// parseDep reads lines of the form "kernel/a/x.ko: kernel/b/y.ko kernel/c/z.ko".
func parseDep(r io.Reader) (*Index, error) {
	idx := &Index{deps: map[string][]string{}, paths: map[string]string{}, builtin: map[string]bool{}}
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; s.Scan(); n++ {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		mod, deps, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: no colon in %q", n, line)
		}
		name := Name(mod)
		idx.paths[name] = mod
		idx.deps[name] = strings.Fields(deps)
	}
	return idx, s.Err()
}

// Resolve returns the files to load, dependencies before the modules that
// need them, each once. Built-in modules are skipped; unknown ones are errors.
func (idx *Index) Resolve(names ...string) ([]string, error) {
	var order []string
	seen := map[string]bool{}
	var visit func(name string, chain []string) error
	visit = func(name string, chain []string) error {
		if seen[name] || idx.builtin[name] {
			return nil
		}
		for _, c := range chain {
			if c == name {
				return fmt.Errorf("dependency cycle: %s -> %s", strings.Join(chain, " -> "), name)
			}
		}
		p, ok := idx.paths[name]
		if !ok {
			return fmt.Errorf("module %s not found in %s", name, idx.dir)
		}
		// modules.dep lists the whole closure, deepest last; walking each
		// dependency recursively also orders them among themselves.
		deps := idx.deps[name]
		for i := len(deps) - 1; i >= 0; i-- {
			if err := visit(Name(deps[i]), append(chain, name)); err != nil {
				return err
			}
		}
		seen[name] = true
		order = append(order, p)
		return nil
	}
	for _, n := range names {
		if err := visit(Name(n), nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// Load resolves names and inserts each module into the kernel. A module that
// is already loaded is not an error.
func (idx *Index) Load(names ...string) error {
	files, err := idx.Resolve(names...)
	if err != nil {
		return err
	}
	for _, rel := range files {
		if err := insert(filepath.Join(idx.dir, rel)); err != nil {
			return err
		}
	}
	return nil
}

func insert(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("load module: %w", err)
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("load module %s: %w", Name(file), err)
	}
	return nil
}
