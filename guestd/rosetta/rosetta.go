//go:build linux

// Package rosetta runs amd64 programs through Apple's Rosetta on Apple
// silicon. The host shares Rosetta's Linux binary (vz's Rosetta directory
// share); guestd mounts it and registers it with binfmt_misc for x86-64
// ELF executables, so amd64 containers run translated instead of failing
// with "exec format error".
package rosetta

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Dir is where the share is mounted; Rosetta's binary is Dir/rosetta.
const Dir = "/run/rosetta"

// Registration is the binfmt_misc rule for interp: files whose ELF header
// says 64-bit little-endian x86-64 executable (the mask ignores the ABI
// version and lets ET_DYN through). F opens interp now, so it works in
// containers' mount namespaces; C and O hand it the program's credentials
// and open file, as a native exec would have.
func Registration(interp string) string {
	const magic = `\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00`
	const mask = `\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff`
	return ":rosetta:M::" + magic + ":" + mask + ":" + interp + ":OCF"
}

// Enabler mounts the share and registers the rule; its fields are the
// system's, replaceable in tests.
type Enabler struct {
	Load      func(module string) error
	Mount     func(source, target, fstype string, flags uintptr, data string) error
	Dir       string // where the share goes: Dir
	BinfmtDir string // /proc/sys/fs/binfmt_misc
}

// NewEnabler returns an Enabler for this system.
func NewEnabler(load func(string) error) Enabler {
	return Enabler{Load: load, Mount: unix.Mount, Dir: Dir, BinfmtDir: "/proc/sys/fs/binfmt_misc"}
}

// Enable mounts the virtiofs share tag at e.Dir and registers Rosetta.
func (e Enabler) Enable(tag string) error {
	for _, m := range []string{"virtiofs", "binfmt_misc"} {
		if err := e.Load(m); err != nil {
			return fmt.Errorf("rosetta: %w", err)
		}
	}
	if err := os.MkdirAll(e.Dir, 0o755); err != nil {
		return fmt.Errorf("rosetta: %w", err)
	}
	if err := e.Mount(tag, e.Dir, "virtiofs", unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("rosetta: mount the %q share: %w", tag, err)
	}
	register := filepath.Join(e.BinfmtDir, "register")
	if _, err := os.Stat(register); errors.Is(err, os.ErrNotExist) {
		if err := e.Mount("binfmt_misc", e.BinfmtDir, "binfmt_misc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("rosetta: mount binfmt_misc: %w", err)
		}
	}
	if _, err := os.Stat(filepath.Join(e.BinfmtDir, "rosetta")); err == nil {
		return nil // registered by an earlier boot stage
	}
	if err := os.WriteFile(register, []byte(Registration(filepath.Join(e.Dir, "rosetta"))), 0o200); err != nil {
		return fmt.Errorf("rosetta: register with binfmt_misc: %w", err)
	}
	return nil
}
