package control

import (
	"strconv"
	"strings"
)

// Version is a Debian package version: [epoch:]upstream[-revision].
type Version struct {
	Epoch    int
	Upstream string
	Revision string
}

// ParseVersion splits a version string; it is lenient, as the archive's
// versions are valid by construction.
func ParseVersion(s string) Version {
	var v Version
	if e, rest, ok := strings.Cut(s, ":"); ok {
		if n, err := strconv.Atoi(e); err == nil {
			v.Epoch, s = n, rest
		}
	}
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		v.Upstream, v.Revision = s[:i], s[i+1:]
	} else {
		v.Upstream = s
	}
	return v
}

func (v Version) String() string {
	s := v.Upstream
	if v.Epoch != 0 {
		s = strconv.Itoa(v.Epoch) + ":" + s
	}
	if v.Revision != "" {
		s += "-" + v.Revision
	}
	return s
}

// Compare orders two versions as dpkg does: <0, 0 or >0.
func Compare(a, b Version) int {
	if a.Epoch != b.Epoch {
		if a.Epoch < b.Epoch {
			return -1
		}
		return 1
	}
	if c := comparePart(a.Upstream, b.Upstream); c != 0 {
		return c
	}
	return comparePart(a.Revision, b.Revision)
}

// order is dpkg's weight of a non-digit character: ~ sorts before
// everything, even the end of the string; letters before other symbols.
func order(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return 0
	case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		return int(c)
	case c == '~':
		return -1
	case c == 0:
		return 0
	default:
		return int(c) + 256
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func comparePart(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		// The non-digit prefix, character by character.
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			var ca, cb byte
			if i < len(a) {
				ca = a[i]
			}
			if j < len(b) {
				cb = b[j]
			}
			if oa, ob := order(ca), order(cb); oa != ob {
				return oa - ob
			}
			i++
			j++
		}
		// The numeric part, compared by value.
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		diff := 0
		for i < len(a) && isDigit(a[i]) && j < len(b) && isDigit(b[j]) {
			if diff == 0 {
				diff = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if diff != 0 {
			return diff
		}
	}
	return 0
}
