// Package configure does to an unpacked tree, declaratively, the part of
// Debian's maintainer scripts a guest needs: accounts, alternatives, the CA
// bundle, and pruning what the guest never runs. Nothing is executed, so a
// tree of any architecture is configured on any host.
package configure

import (
	"bytes"
	"cmp"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/berthvm/berth/packaging/imagebuild/fstree"
)

// Alternative is one update-alternatives link group, e.g. iptables:
// /usr/sbin/iptables -> /etc/alternatives/iptables -> /usr/sbin/iptables-nft.
type Alternative struct {
	Name   string `json:"name"`
	Link   string `json:"link"`
	Target string `json:"target"`
}

// Config says what to do.
type Config struct {
	// Groups are system groups packages would add in postinst
	// (addgroup --system), given the first free id from 100 up.
	Groups []string `json:"groups"`
	// Users are system users packages would add in postinst (adduser
	// --system), each with a group of its own name, given the first free
	// id from 100 up, and members of Groups (which must exist).
	Users        []User        `json:"users"`
	Alternatives []Alternative `json:"alternatives"`
	// Dirs are made (root-owned, 0755) as a postinst's mkdir would.
	Dirs []string `json:"dirs"`
	// Links are symlinks (path: target) that replace whatever is at path,
	// e.g. base-files' /var/run -> /run.
	Links map[string]string `json:"links"`
	// Remove are path globs (fstree.Glob syntax) deleted at the end.
	Remove []string `json:"remove"`
	// Files are written as root-owned 0644 files.
	Files map[string]string `json:"files"`
	// Epoch is the day count written into /etc/shadow's "last changed".
	Epoch int64 `json:"-"`
}

// User is one system user.
type User struct {
	Name   string   `json:"name"`
	Home   string   `json:"home"`
	Shell  string   `json:"shell"`
	Groups []string `json:"groups"`
}

// Apply configures t.
func Apply(t *fstree.Tree, c Config) error {
	steps := []struct {
		what string
		fn   func() error
	}{
		{"accounts", func() error { return accounts(t, c.Groups, c.Users, c.Epoch) }},
		{"directories", func() error { return dirs(t, c.Dirs) }},
		{"links", func() error { return links(t, c.Links) }},
		{"alternatives", func() error { return alternatives(t, c.Alternatives) }},
		{"CA bundle", func() error { return caBundle(t) }},
		{"files", func() error { return files(t, c.Files) }},
	}
	for _, s := range steps {
		if err := s.fn(); err != nil {
			return fmt.Errorf("configure %s: %w", s.what, err)
		}
	}
	for _, g := range c.Remove {
		for _, p := range t.Glob(g) {
			t.Remove(p)
		}
	}
	return nil
}

// accounts writes /etc/passwd, group, shadow and gshadow from base-passwd's
// masters (what its postinst, update-passwd, would install), then adds the
// system groups.
func accounts(t *fstree.Tree, groups []string, users []User, epochDays int64) error {
	passwd := t.Get("/usr/share/base-passwd/passwd.master")
	group := t.Get("/usr/share/base-passwd/group.master")
	if passwd == nil || group == nil {
		return fmt.Errorf("base-passwd's passwd.master and group.master are missing: is base-passwd in the package set?")
	}
	grp := strings.TrimRight(string(group.Data), "\n")
	pw := strings.TrimRight(string(passwd.Data), "\n")
	ids := func(db string) map[int]bool {
		used := map[int]bool{}
		for _, line := range strings.Split(db, "\n") {
			f := strings.Split(line, ":")
			if len(f) >= 3 {
				id, _ := strconv.Atoi(f[2])
				used[id] = true
			}
		}
		return used
	}
	usedGID, usedUID := ids(grp), ids(pw)
	free := func(used map[int]bool, what string) (int, error) {
		id := 100
		for used[id] {
			id++
		}
		if id > 999 {
			return 0, fmt.Errorf("no free system id for %s", what)
		}
		used[id] = true
		return id, nil
	}
	addGroup := func(g string) error {
		if hasEntry(grp, g) {
			return nil
		}
		id, err := free(usedGID, g)
		if err != nil {
			return err
		}
		grp += fmt.Sprintf("\n%s:x:%d:", g, id)
		return nil
	}
	for _, g := range groups {
		if err := addGroup(g); err != nil {
			return err
		}
	}
	for _, u := range users {
		if hasEntry(pw, u.Name) {
			continue
		}
		if err := addGroup(u.Name); err != nil {
			return err
		}
		uid, err := free(usedUID, u.Name)
		if err != nil {
			return err
		}
		gid := entryID(grp, u.Name)
		pw += fmt.Sprintf("\n%s:x:%d:%d::%s:%s", u.Name, uid, gid, u.Home, cmp.Or(u.Shell, "/usr/sbin/nologin"))
		for _, g := range u.Groups {
			if grp, err = addMember(grp, g, u.Name); err != nil {
				return err
			}
		}
	}
	grp += "\n"
	pw += "\n"
	var shadow, gshadow strings.Builder
	for _, line := range strings.Split(strings.TrimRight(pw, "\n"), "\n") {
		name, _, _ := strings.Cut(line, ":")
		// Locked: no account has a password; the guest has no login.
		fmt.Fprintf(&shadow, "%s:*:%d:0:99999:7:::\n", name, epochDays)
	}
	for _, line := range strings.Split(strings.TrimRight(grp, "\n"), "\n") {
		name, _, _ := strings.Cut(line, ":")
		fmt.Fprintf(&gshadow, "%s:*::\n", name)
	}
	shadowGID := uint32(42) // base-passwd's fixed "shadow" group
	for _, f := range []struct {
		p    string
		data []byte
		mode fs.FileMode
		gid  uint32
	}{
		{"/etc/passwd", []byte(pw), 0o644, 0},
		{"/etc/group", []byte(grp), 0o644, 0},
		{"/etc/shadow", []byte(shadow.String()), 0o640, shadowGID},
		{"/etc/gshadow", []byte(gshadow.String()), 0o640, shadowGID},
	} {
		if err := t.Put(f.p, &fstree.Node{Mode: f.mode, Data: f.data, GID: f.gid}); err != nil {
			return err
		}
	}
	return nil
}

// entryID is the id (third field) of name's line in db.
func entryID(db, name string) int {
	for _, line := range strings.Split(db, "\n") {
		if f := strings.Split(line, ":"); len(f) >= 3 && f[0] == name {
			id, _ := strconv.Atoi(f[2])
			return id
		}
	}
	return -1
}

// addMember adds user to group's member list in the group database db.
func addMember(db, group, user string) (string, error) {
	lines := strings.Split(db, "\n")
	for i, line := range lines {
		f := strings.Split(line, ":")
		if len(f) != 4 || f[0] != group {
			continue
		}
		if f[3] == "" {
			f[3] = user
		} else if !slices.Contains(strings.Split(f[3], ","), user) {
			f[3] += "," + user
		}
		lines[i] = strings.Join(f, ":")
		return strings.Join(lines, "\n"), nil
	}
	return db, fmt.Errorf("user %s: no group %s", user, group)
}

// dirs makes directories a postinst would, root-owned and 0755.
func dirs(t *fstree.Tree, ds []string) error {
	for _, d := range ds {
		if err := t.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// links replaces each path with a symlink to its target.
func links(t *fstree.Tree, ls map[string]string) error {
	for _, p := range slices.Sorted(maps.Keys(ls)) {
		t.Remove(p)
		if err := t.MkdirAll(path.Dir(p), 0o755); err != nil {
			return err
		}
		if err := t.Symlink(ls[p], p); err != nil {
			return err
		}
	}
	return nil
}

func hasEntry(db, name string) bool {
	for _, line := range strings.Split(db, "\n") {
		if n, _, _ := strings.Cut(line, ":"); n == name {
			return true
		}
	}
	return false
}

// alternatives makes Debian's two-step links. The target must exist, so a
// package renaming its binaries fails the build rather than the guest.
func alternatives(t *fstree.Tree, alts []Alternative) error {
	for _, a := range alts {
		if n := t.Get(a.Target); n == nil || n.IsDir() {
			return fmt.Errorf("%s: target %s is not in the tree", a.Name, a.Target)
		}
		if err := t.MkdirAll("/etc/alternatives", 0o755); err != nil {
			return err
		}
		if err := t.Symlink(a.Target, "/etc/alternatives/"+a.Name); err != nil {
			return err
		}
		if err := t.Symlink("/etc/alternatives/"+a.Name, a.Link); err != nil {
			return err
		}
	}
	return nil
}

// caBundle is update-ca-certificates' bundle: every certificate shipped
// under /usr/share/ca-certificates, in path order. Go (dockerd) and OpenSSL
// read this file; the hashed per-certificate links are not made.
func caBundle(t *fstree.Tree) error {
	certs := t.Glob("/usr/share/ca-certificates/**/*.crt")
	if len(certs) == 0 {
		return nil
	}
	var b bytes.Buffer
	for _, p := range certs {
		data := t.Get(p).Data
		b.Write(data)
		if len(data) > 0 && data[len(data)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	if err := t.MkdirAll("/etc/ssl/certs", 0o755); err != nil {
		return err
	}
	return t.WriteFile("/etc/ssl/certs/ca-certificates.crt", b.Bytes(), 0o644)
}

func files(t *fstree.Tree, fs map[string]string) error {
	for _, p := range slices.Sorted(maps.Keys(fs)) {
		if err := t.MkdirAll(path.Dir(p), 0o755); err != nil {
			return err
		}
		if err := t.WriteFile(p, []byte(fs[p]), 0o644); err != nil {
			return err
		}
	}
	return nil
}
