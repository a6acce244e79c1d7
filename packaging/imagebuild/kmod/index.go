package kmod

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
)

// The binary indexes modprobe (libkmod) reads: without them the kernel's
// own module requests (iptables' xt_* matches, for one) find nothing. The
// format is a trie, big-endian, after a magic and a version:
// each node is [prefix NUL] [first last child-offsets...] [count
// (priority value NUL)...], the flags in the high bits of the offset that
// points to it saying which parts are there.
const (
	indexMagic    = 0xB007F457
	indexVersion  = 0x00020001
	nodePrefix    = 0x80000000
	nodeValues    = 0x40000000
	nodeChildren  = 0x20000000
	maxNodeOffset = 0x0FFFFFFF
)

type value struct {
	priority uint32
	s        string
}

type trieNode struct {
	prefix   string
	children map[byte]*trieNode
	values   []value
}

// Index is one binary index being built: keys to prioritised values.
type Index struct{ root trieNode }

// Add files value under key; lower priorities sort first.
func (ix *Index) Add(key, val string, priority uint32) {
	n := &ix.root
	for {
		// Split n where key and its prefix part.
		i := 0
		for i < len(n.prefix) && i < len(key) && n.prefix[i] == key[i] {
			i++
		}
		if i < len(n.prefix) {
			tail := &trieNode{prefix: n.prefix[i+1:], children: n.children, values: n.values}
			n.children = map[byte]*trieNode{n.prefix[i]: tail}
			n.prefix, n.values = n.prefix[:i], nil
		}
		key = key[i:]
		if key == "" {
			n.values = append(n.values, value{priority, val})
			slices.SortStableFunc(n.values, func(a, b value) int { return int(int64(a.priority) - int64(b.priority)) })
			return
		}
		c := n.children[key[0]]
		if c == nil {
			if n.children == nil {
				n.children = map[byte]*trieNode{}
			}
			// A new leaf takes the rest of the key as its prefix.
			c = &trieNode{prefix: key[1:]}
			c.values = []value{{priority, val}}
			n.children[key[0]] = c
			return
		}
		n, key = c, key[1:]
	}
}

// Bytes encodes the index: children before their parent, the root last.
func (ix *Index) Bytes() ([]byte, error) {
	var b bytes.Buffer
	be := binary.BigEndian
	b.Write(be.AppendUint32(nil, indexMagic))
	b.Write(be.AppendUint32(nil, indexVersion))
	b.Write(make([]byte, 4)) // root offset
	var write func(n *trieNode) (uint32, error)
	write = func(n *trieNode) (uint32, error) {
		var first, last byte
		var offsets []uint32
		if len(n.children) > 0 {
			keys := slices.Sorted(maps.Keys(n.children))
			first, last = keys[0], keys[len(keys)-1]
			offsets = make([]uint32, int(last)-int(first)+1)
			for _, k := range keys {
				off, err := write(n.children[k])
				if err != nil {
					return 0, err
				}
				offsets[k-first] = off
			}
		}
		off := uint32(b.Len())
		if off > maxNodeOffset {
			return 0, fmt.Errorf("module index larger than 256 MiB")
		}
		if n.prefix != "" {
			off |= nodePrefix
			b.WriteString(n.prefix)
			b.WriteByte(0)
		}
		if len(offsets) > 0 {
			off |= nodeChildren
			b.WriteByte(first)
			b.WriteByte(last)
			for _, o := range offsets {
				b.Write(be.AppendUint32(nil, o))
			}
		}
		if len(n.values) > 0 {
			off |= nodeValues
			b.Write(be.AppendUint32(nil, uint32(len(n.values))))
			for _, v := range n.values {
				b.Write(be.AppendUint32(nil, v.priority))
				b.WriteString(v.s)
				b.WriteByte(0)
			}
		}
		return off, nil
	}
	root, err := write(&ix.root)
	if err != nil {
		return nil, err
	}
	out := b.Bytes()
	be.PutUint32(out[8:], root)
	return out, nil
}

// Name is a module's name as the kernel and modprobe spell it: the file
// name without .ko, dashes as underscores.
func Name(p string) string {
	return strings.ReplaceAll(strings.TrimSuffix(path.Base(p), ".ko"), "-", "_")
}

// Files returns depmod's outputs for the modules, by file name:
// modules.dep, and modprobe's binary indexes modules.dep.bin,
// modules.alias.bin, modules.symbols.bin, modules.builtin.bin, plus
// modules.alias and modules.softdep as text. builtin is the kernel's
// modules.builtin (paths of modules built in).
func Files(mods []Module, builtin []byte) (map[string][]byte, map[string][]string, error) {
	deps, err := Depends(mods)
	if err != nil {
		return nil, nil, err
	}
	paths := make([]string, len(mods))
	for i, m := range mods {
		paths[i] = m.Path
	}
	var dep, alias, symbols, builtins Index
	var aliasText, softdep bytes.Buffer
	for i, m := range mods {
		line := m.Path + ":"
		for _, d := range deps[m.Path] {
			line += " " + d
		}
		name := Name(m.Path)
		dep.Add(name, line, uint32(i))
		info, syms, err := modinfo(m)
		if err != nil {
			return nil, nil, err
		}
		for _, a := range info["alias"] {
			alias.Add(normalizeAlias(a), name, uint32(i))
			fmt.Fprintf(&aliasText, "alias %s %s\n", a, name)
		}
		for _, s := range info["softdep"] {
			fmt.Fprintf(&softdep, "softdep %s %s\n", name, s)
		}
		for _, s := range syms {
			symbols.Add("symbol:"+s, name, uint32(i))
		}
	}
	for _, line := range strings.Split(string(builtin), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			builtins.Add(Name(line), "", 0)
		}
	}
	out := map[string][]byte{
		"modules.dep":     ModulesDep(paths, deps),
		"modules.alias":   aliasText.Bytes(),
		"modules.softdep": softdep.Bytes(),
	}
	for name, ix := range map[string]*Index{"modules.dep.bin": &dep, "modules.alias.bin": &alias, "modules.symbols.bin": &symbols, "modules.builtin.bin": &builtins} {
		if out[name], err = ix.Bytes(); err != nil {
			return nil, nil, err
		}
	}
	return out, deps, nil
}

// modinfo returns a module's .modinfo fields and the symbols it exports.
func modinfo(m Module) (map[string][]string, []string, error) {
	f, err := elf.NewFile(bytes.NewReader(m.ELF))
	if err != nil {
		return nil, nil, fmt.Errorf("module %s: %w", m.Path, err)
	}
	defer f.Close()
	info := map[string][]string{}
	if s := f.Section(".modinfo"); s != nil {
		b, err := s.Data()
		if err != nil {
			return nil, nil, fmt.Errorf("module %s: %w", m.Path, err)
		}
		for _, kv := range strings.Split(string(b), "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				info[k] = append(info[k], v)
			}
		}
	}
	var syms []string
	if s := f.Section("__ksymtab_strings"); s != nil {
		b, err := s.Data()
		if err != nil {
			return nil, nil, fmt.Errorf("module %s: %w", m.Path, err)
		}
		for _, name := range strings.Split(string(b), "\x00") {
			if name != "" {
				syms = append(syms, name)
			}
		}
	}
	return info, syms, nil
}

// normalizeAlias spells an alias as modprobe looks it up: dashes as
// underscores, except inside [...] character classes.
func normalizeAlias(a string) string {
	b := []byte(a)
	inClass := false
	for i, c := range b {
		switch {
		case c == '[':
			inClass = true
		case c == ']':
			inClass = false
		case c == '-' && !inClass:
			b[i] = '_'
		}
	}
	return string(b)
}
