// Package filesharing decides which host folders the VM sees, at which guest
// paths, and whether a container's bind mount may use a host path. Host
// folders appear in the guest at the host's own path (on Windows under
// /mnt/host/<drive>), so `docker run -v "$PWD":/app` works unchanged.
package filesharing

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
)

// Share is one shared host folder.
type Share struct {
	HostPath string `json:"host_path"`
	ReadOnly bool   `json:"read_only,omitempty"`
}

// Defaults are the folders shared unless the user says otherwise, in the
// spirit of Docker Desktop: the user's home and the temporary directories
// (macOS: /Users, /Volumes, /private, /tmp and /var/folders).
func Defaults(goos, home, tmp string) []Share {
	var paths []string
	switch goos {
	case "darwin":
		paths = []string{"/Users", "/Volumes", "/private", "/tmp", "/var/folders"}
	default:
		paths = []string{home, tmp}
	}
	var out []Share
	for _, p := range paths {
		if p != "" {
			out = append(out, Share{HostPath: p})
		}
	}
	// Windows' temp folder is inside the user's home: the home covers it.
	var kept []Share
	for _, sh := range Normalize(goos, out) {
		if len(kept) == 0 || !within(goos, sh.HostPath, kept[len(kept)-1].HostPath) {
			kept = append(kept, sh)
		}
	}
	return kept
}

// ParseMount reads the --mount flag's PATH[:ro] (PATH[:rw] too). A relative
// PATH is left for the caller to make absolute against its working folder.
func ParseMount(goos, s string) (Share, error) {
	p, mode := s, ""
	if i := strings.LastIndex(s, ":"); i > 0 && !(goos == "windows" && i == 1) {
		p, mode = s[:i], s[i+1:]
	}
	sh := Share{HostPath: p}
	switch mode {
	case "", "rw":
	case "ro":
		sh.ReadOnly = true
	default:
		return Share{}, fmt.Errorf("--mount %s: unknown mode %q (want PATH, PATH:ro or PATH:rw)", s, mode)
	}
	if p == "" {
		return Share{}, fmt.Errorf("--mount %s: no path", s)
	}
	return sh, nil
}

// Validate checks a list of shares: absolute paths, not the root, no
// duplicates, and no share inside another (the outer one already covers
// it; with different modes the intent would be ambiguous).
func Validate(goos string, shares []Share) error {
	var errs []error
	seen := map[string]bool{}
	for _, s := range shares {
		p := clean(goos, s.HostPath)
		switch {
		case !isAbs(goos, s.HostPath):
			errs = append(errs, fmt.Errorf("shared folder %q: the path must be absolute", s.HostPath))
			continue
		case isRoot(goos, p):
			errs = append(errs, fmt.Errorf("shared folder %q: the whole root cannot be shared (it would hide the VM's own system); share the folders you work in", s.HostPath))
			continue
		case vmReserved(goos, p) != "":
			errs = append(errs, fmt.Errorf("shared folder %q would cover the VM's own %s; share a folder that does not", s.HostPath, vmReserved(goos, p)))
			continue
		case seen[key(goos, p)]:
			errs = append(errs, fmt.Errorf("shared folder %q is listed twice", s.HostPath))
			continue
		}
		seen[key(goos, p)] = true
	}
	for i, a := range shares {
		for j, b := range shares {
			if i != j && within(goos, clean(goos, a.HostPath), clean(goos, b.HostPath)) && key(goos, clean(goos, a.HostPath)) != key(goos, clean(goos, b.HostPath)) {
				errs = append(errs, fmt.Errorf("shared folder %q is inside %q, which is already shared", a.HostPath, b.HostPath))
			}
		}
	}
	return errors.Join(errs...)
}

// vmSystem are the VM's own directories: a share there (or above) would
// replace what the VM runs on.
var vmSystem = []string{
	"/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/run", "/sbin", "/sys", "/usr",
	"/var/lib", "/var/run", "/var/log", "/var/cache", "/mnt/data",
}

// vmReserved returns the VM directory a share at host path p would cover
// or fall inside, or "".
func vmReserved(goos, p string) string {
	g, err := GuestPath(goos, p)
	if err != nil {
		return ""
	}
	for _, r := range vmSystem {
		if within("linux", g, r) || within("linux", r, g) {
			return r
		}
	}
	return ""
}

// Normalize cleans the paths and sorts the shares, outermost first.
func Normalize(goos string, shares []Share) []Share {
	out := make([]Share, len(shares))
	for i, s := range shares {
		out[i] = Share{HostPath: clean(goos, s.HostPath), ReadOnly: s.ReadOnly}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].HostPath < out[j].HostPath })
	return out
}

// GuestPath is where a host path appears in the VM: the same path on POSIX
// hosts; C:\Users\me becomes /mnt/host/c/Users/me on Windows.
func GuestPath(goos, hostPath string) (string, error) {
	if goos != "windows" {
		if !path.IsAbs(hostPath) {
			return "", fmt.Errorf("%q is not an absolute path", hostPath)
		}
		return path.Clean(hostPath), nil
	}
	p := strings.ReplaceAll(hostPath, `\`, "/")
	if len(p) < 2 || p[1] != ':' || !isLetter(p[0]) {
		return "", fmt.Errorf("%q is not an absolute Windows path with a drive letter", hostPath)
	}
	rest := path.Clean("/" + strings.TrimPrefix(p[2:], "/"))
	if rest == "/" {
		rest = ""
	}
	return "/mnt/host/" + strings.ToLower(p[:1]) + rest, nil
}

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

func isAbs(goos, p string) bool {
	if goos == "windows" {
		p = strings.ReplaceAll(p, `\`, "/")
		return len(p) >= 3 && isLetter(p[0]) && p[1] == ':' && p[2] == '/'
	}
	return path.IsAbs(p)
}

func clean(goos, p string) string {
	if goos == "windows" {
		return strings.ReplaceAll(path.Clean(strings.ReplaceAll(p, `\`, "/")), "/", `\`)
	}
	return path.Clean(p)
}

func isRoot(goos, p string) bool {
	if goos == "windows" {
		q := strings.ReplaceAll(p, `\`, "/")
		return len(q) <= 3
	}
	return p == "/"
}

// key compares paths as the host's filesystem does: Windows ignores case.
func key(goos, p string) string {
	if goos == "windows" {
		return strings.ToLower(strings.ReplaceAll(p, `\`, "/"))
	}
	return p
}

// within reports whether p is dir or below it.
func within(goos, p, dir string) bool {
	p, dir = key(goos, p), key(goos, dir)
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// below is the rest of p under dir, which within says p is in, with its
// leading separator: counted in path elements, since case folding may
// change byte lengths (strings.ToLower makes the 3-byte Kelvin sign "k").
func below(goos, p, dir string) string {
	sep := "/"
	if goos == "windows" {
		sep = `\`
	}
	n := len(strings.Split(strings.TrimSuffix(dir, sep), sep))
	rest := strings.Split(p, sep)[n:]
	if len(rest) == 0 {
		return ""
	}
	return sep + strings.Join(rest, sep)
}

// Add shares s, replacing the mode of a share with the same path.
func Add(goos string, shares []Share, s Share) []Share {
	out := make([]Share, 0, len(shares)+1)
	for _, have := range shares {
		if key(goos, clean(goos, have.HostPath)) != key(goos, clean(goos, s.HostPath)) {
			out = append(out, have)
		}
	}
	return Normalize(goos, append(out, s))
}

// Remove stops sharing hostPath; it must be one of the shares as listed.
func Remove(goos string, shares []Share, hostPath string) ([]Share, error) {
	var out []Share
	var listed []string
	for _, have := range shares {
		listed = append(listed, have.HostPath)
		if key(goos, clean(goos, have.HostPath)) != key(goos, clean(goos, hostPath)) {
			out = append(out, have)
		}
	}
	if len(out) == len(shares) {
		return nil, fmt.Errorf("--unmount %s: that folder is not shared (shared now: %s)", hostPath, strings.Join(listed, ", "))
	}
	return out, nil
}
