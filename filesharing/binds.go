package filesharing

import (
	"fmt"
	"path"
	"strings"
)

// guestOnly are paths that exist in the VM itself and that containers
// commonly mount (the engine socket, kernel interfaces): never host folders.
var guestOnly = []string{
	"/var/run/docker.sock", "/run/docker.sock", "/var/lib/docker",
	"/proc", "/sys", "/dev", "/lib/modules", "/run/containerd",
}

// Policy decides whether bind-mount sources are allowed.
type Policy struct {
	GOOS   string // the host's OS: path syntax and translation
	Shares []Share
	// Resolve follows symlinks on the host (filepath.EvalSymlinks on the
	// existing part of the path); nil leaves paths as written. Without it a
	// symlink inside a share that points out of it would be followed in the
	// VM, to a VM path of the same name.
	Resolve func(string) (string, error)
}

// CheckBind vets one bind-mount source as given to the docker CLI (a host
// path) and returns the path the guest engine must use. A named volume is
// returned as is. A host path outside every share is refused with an error
// that names the path and how to share it.
func (p Policy) CheckBind(source string) (string, error) {
	if isVolumeName(p.GOOS, source) {
		return source, nil
	}
	// POSIX sources the VM owns itself pass through untouched. On Windows a
	// POSIX path can only mean the VM's.
	if strings.HasPrefix(source, "/") {
		if p.GOOS == "windows" || isGuestOnly(source) {
			return source, nil
		}
	}
	if !isAbs(p.GOOS, source) {
		return "", fmt.Errorf("bind mount source %q is not an absolute path", source)
	}
	src := clean(p.GOOS, source)
	if p.Resolve != nil {
		r, err := p.Resolve(src)
		if err != nil {
			return "", fmt.Errorf("bind mount source %s: %w", source, err)
		}
		if r = clean(p.GOOS, r); r != src {
			src = r
			source = fmt.Sprintf("%s (a symlink to %s)", source, r)
		}
	}
	for _, s := range p.Shares {
		share := clean(p.GOOS, s.HostPath)
		resolved := share
		if p.Resolve != nil {
			// A share may itself be reached through a symlink (macOS /tmp).
			if r, err := p.Resolve(share); err == nil {
				resolved = clean(p.GOOS, r)
			}
		}
		for _, prefix := range []string{share, resolved} {
			if within(p.GOOS, src, prefix) {
				// The share's own spelling of its prefix: on Windows the
				// request may differ in case, the guest's mount point does not.
				return GuestPath(p.GOOS, share+below(p.GOOS, src, prefix))
			}
		}
	}
	var shared []string
	for _, s := range p.Shares {
		shared = append(shared, s.HostPath)
	}
	if r := vmReserved(p.GOOS, src); r != "" {
		return "", fmt.Errorf("bind mount source %s is not shared with the Berth VM, and cannot be: it would cover the VM's own %s; copy what the container needs into a shared folder (shared now: %s)",
			source, r, strings.Join(shared, ", "))
	}
	return "", fmt.Errorf("bind mount source %s is not shared with the Berth VM: share it with `berth start --mount %s` (or a parent folder; shared now: %s)",
		source, src, strings.Join(shared, ", "))
}

func isGuestOnly(p string) bool {
	p = path.Clean(p)
	for _, g := range guestOnly {
		if p == g || strings.HasPrefix(p, g+"/") {
			return true
		}
	}
	return false
}

// isVolumeName reports whether a -v source is a named volume: no path
// separators and not a Windows drive path.
func isVolumeName(goos, s string) bool {
	if strings.ContainsAny(s, `/\`) {
		return false
	}
	return !(goos == "windows" && len(s) >= 2 && s[1] == ':')
}

// SplitBind splits a HostConfig.Binds entry "SRC:DST[:OPTS]" where SRC may
// be a Windows path with a drive letter ("C:\src:/app:ro").
func SplitBind(goos, bind string) (src, rest string, err error) {
	start := 0
	if goos == "windows" && len(bind) >= 2 && isLetter(bind[0]) && bind[1] == ':' {
		start = 2
	}
	i := strings.Index(bind[start:], ":")
	if i < 0 {
		return "", "", fmt.Errorf("bind %q: want SOURCE:TARGET[:OPTIONS]", bind)
	}
	return bind[:start+i], bind[start+i+1:], nil
}
