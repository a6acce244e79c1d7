// Package fstree is an in-memory file system tree: what the image builder
// unpacks packages into, edits, and hands to the image writers. It keeps
// what a root filesystem needs (modes, ownership, symlinks, hard links,
// device nodes, extended attributes such as file capabilities) and nothing
// of the build host, so it builds the same on any OS and as any user.
package fstree

import (
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
)

// Node is one inode. A hard link is the same *Node under two names.
type Node struct {
	Mode     fs.FileMode // type bits and permissions, as Go spells them
	UID, GID uint32
	Data     []byte            // regular file
	Target   string            // symlink
	Major    uint32            // device nodes
	Minor    uint32            // device nodes
	Xattrs   map[string][]byte // e.g. security.capability
	children map[string]*Node  // directory
}

// IsDir reports whether n is a directory.
func (n *Node) IsDir() bool { return n.Mode.IsDir() }

// Names returns a directory's entries, sorted.
func (n *Node) Names() []string { return slices.Sorted(maps.Keys(n.children)) }

// Child returns a directory's entry, or nil.
func (n *Node) Child(name string) *Node { return n.children[name] }

// Tree is a root directory.
type Tree struct{ Root *Node }

// New returns a tree with an empty root directory (root-owned, 0755).
func New() *Tree { return &Tree{Root: dir(0o755)} }

func dir(perm fs.FileMode) *Node {
	return &Node{Mode: fs.ModeDir | perm, children: map[string]*Node{}}
}

func split(p string) []string {
	p = path.Clean("/" + p)
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

// resolveDir walks to the directory named by parts, following symlinks
// between components as dpkg does (that is how /bin reaches usr/bin on a
// merged-/usr system). With create, missing directories are made 0755.
func (t *Tree) resolveDir(parts []string, create bool, depth int) (*Node, error) {
	if depth > 40 {
		return nil, fmt.Errorf("too many levels of symlinks")
	}
	cur := t.Root
	var walked []string
	for i, name := range parts {
		next := cur.children[name]
		switch {
		case next == nil && create:
			next = dir(0o755)
			cur.children[name] = next
		case next == nil:
			return nil, fs.ErrNotExist
		case next.Mode&fs.ModeSymlink != 0:
			target := next.Target
			if !strings.HasPrefix(target, "/") {
				target = path.Join("/", path.Join(walked...), target)
			}
			rest := slices.Concat(split(target), parts[i+1:])
			return t.resolveDir(rest, create, depth+1)
		case !next.IsDir():
			return nil, fmt.Errorf("%s is not a directory", path.Join(append(walked, name)...))
		}
		walked = append(walked, name)
		cur = next
	}
	return cur, nil
}

// parent returns the directory holding p (made if missing) and p's name.
func (t *Tree) parent(p string) (*Node, string, error) {
	parts := split(p)
	if len(parts) == 0 {
		return nil, "", fmt.Errorf("the root has no parent")
	}
	d, err := t.resolveDir(parts[:len(parts)-1], true, 0)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", p, err)
	}
	return d, parts[len(parts)-1], nil
}

// Get returns the node at p, following symlinks in the directories above
// it but not p itself; nil if there is none.
func (t *Tree) Get(p string) *Node {
	parts := split(p)
	if len(parts) == 0 {
		return t.Root
	}
	d, err := t.resolveDir(parts[:len(parts)-1], false, 0)
	if err != nil {
		return nil
	}
	return d.children[parts[len(parts)-1]]
}

// Put places n at p, replacing what was there, except that a directory
// put where a directory (or a symlink to one) already is only updates the
// existing directory's metadata, so its contents stay.
func (t *Tree) Put(p string, n *Node) error {
	d, name, err := t.parent(p)
	if err != nil {
		return err
	}
	old := d.children[name]
	if n.IsDir() {
		if old != nil && old.Mode&fs.ModeSymlink != 0 {
			if _, err := t.resolveDir(split(p), false, 0); err == nil {
				return nil
			}
		}
		if old != nil && old.IsDir() {
			old.Mode, old.UID, old.GID, old.Xattrs = n.Mode, n.UID, n.GID, n.Xattrs
			return nil
		}
		if n.children == nil {
			n.children = map[string]*Node{}
		}
	}
	d.children[name] = n
	return nil
}

// MkdirAll makes p and its parents as root-owned directories of mode perm,
// leaving existing ones alone.
func (t *Tree) MkdirAll(p string, perm fs.FileMode) error {
	parts := split(p)
	for i := range parts {
		sub := "/" + strings.Join(parts[:i+1], "/")
		if t.Get(sub) == nil {
			if err := t.Put(sub, dir(perm)); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteFile puts a root-owned regular file.
func (t *Tree) WriteFile(p string, data []byte, perm fs.FileMode) error {
	return t.Put(p, &Node{Mode: perm, Data: data})
}

// Symlink puts a root-owned symlink at p pointing to target.
func (t *Tree) Symlink(target, p string) error {
	return t.Put(p, &Node{Mode: fs.ModeSymlink | 0o777, Target: target})
}

// Remove deletes p and, for a directory, everything under it. A missing p
// is not an error.
func (t *Tree) Remove(p string) {
	parts := split(p)
	if len(parts) == 0 {
		return
	}
	d, err := t.resolveDir(parts[:len(parts)-1], false, 0)
	if err != nil {
		return
	}
	delete(d.children, parts[len(parts)-1])
}

// WalkFunc is called with each path (absolute, "/" for the root) and node.
// Returning fs.SkipDir from a directory skips its contents.
type WalkFunc func(p string, n *Node) error

// Walk visits every node depth-first in name order, never following
// symlinks.
func (t *Tree) Walk(fn WalkFunc) error {
	err := walk("/", t.Root, fn)
	if err == fs.SkipDir {
		return nil
	}
	return err
}

func walk(p string, n *Node, fn WalkFunc) error {
	if err := fn(p, n); err != nil {
		return err
	}
	if !n.IsDir() {
		return nil
	}
	for _, name := range n.Names() {
		err := walk(path.Join(p, name), n.children[name], fn)
		if err == fs.SkipDir {
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Glob returns the paths matching pattern (path.Match syntax per
// component, plus "**" for any depth), sorted; symlinks are not followed.
func (t *Tree) Glob(pattern string) []string {
	pat := split(pattern)
	var out []string
	var match func(p string, n *Node, pat []string)
	match = func(p string, n *Node, pat []string) {
		if len(pat) == 0 {
			out = append(out, p)
			return
		}
		if !n.IsDir() {
			return
		}
		if pat[0] == "**" {
			match(p, n, pat[1:])
			for _, name := range n.Names() {
				match(path.Join(p, name), n.children[name], pat)
			}
			return
		}
		for _, name := range n.Names() {
			if ok, _ := path.Match(pat[0], name); ok {
				match(path.Join(p, name), n.children[name], pat[1:])
			}
		}
	}
	match("/", t.Root, pat)
	slices.Sort(out)
	return slices.Compact(out)
}

// UnixPerm is m's permission bits with setuid, setgid and sticky where
// Unix keeps them (04000, 02000, 01000): what tar, cpio and SquashFS store;
// the file type is stored apart in each.
func UnixPerm(m fs.FileMode) uint32 {
	p := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}
