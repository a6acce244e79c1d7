package winsetup

import "strings"

// MaxEnvValue is the longest value Windows allows an environment variable,
// in characters (SetEnvironmentVariable: "The maximum size of a
// user-defined environment variable is 32,767 characters"). A system Path
// longer than that is refused rather than written for every process to
// choke on.
const MaxEnvValue = 32767

// splitPath splits a Path value into its entries as Windows reads them:
// entries are separated by ';', and a double-quoted entry may hold ';'
// (Go's filepath.SplitList on Windows follows the same rule). Entries keep
// their quotes and spacing, so joining them again with ';' gives back the
// value byte for byte.
func splitPath(v string) []string {
	var entries []string
	start, quoted := 0, false
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			quoted = !quoted
		case ';':
			if !quoted {
				entries = append(entries, v[start:i])
				start = i + 1
			}
		}
	}
	return append(entries, v[start:])
}

// sameDir reports whether a Path entry names dir: Windows paths ignore
// case, and "C:\x" and "C:\x\" are one folder, quoted or not. Entries with
// %VARIABLES% are compared as written, never expanded: a Path that is
// REG_EXPAND_SZ is expanded per process, and Berth only ever writes (and
// so only ever removes) the plain folder.
func sameDir(entry, dir string) bool {
	norm := func(s string) string {
		s = strings.TrimSpace(s)
		s = strings.ReplaceAll(s, `"`, "")
		s = strings.TrimRight(s, `\/`)
		return strings.ToLower(s)
	}
	n := norm(entry)
	return n != "" && n == norm(dir)
}

// quoteEntry quotes a folder that holds the separator, the one case a Path
// entry needs quotes.
func quoteEntry(dir string) string {
	if strings.Contains(dir, ";") {
		return `"` + dir + `"`
	}
	return dir
}

// AddDir returns the Path value v with dir appended, and whether that
// changed it: a folder already listed (in any case, with or without a
// trailing backslash or quotes) is not added twice. Appending keeps every
// other entry where it was, so a docker.exe earlier on the Path (Docker
// Desktop's) still wins over Berth's.
func AddDir(v, dir string) (string, bool) {
	for _, e := range splitPath(v) {
		if sameDir(e, dir) {
			return v, false
		}
	}
	switch {
	case v == "":
		return quoteEntry(dir), true
	case strings.HasSuffix(v, ";"):
		// Keep the trailing ';' last, so that RemoveDir gives v back.
		return v + quoteEntry(dir) + ";", true
	default:
		return v + ";" + quoteEntry(dir), true
	}
}

// RemoveDir returns the Path value v without the entries that name dir,
// and whether there were any. Every other entry, empty ones and a trailing
// ';' included, stays as it was.
func RemoveDir(v, dir string) (string, bool) {
	entries := splitPath(v)
	kept := entries[:0:0]
	for _, e := range entries {
		if !sameDir(e, dir) {
			kept = append(kept, e)
		}
	}
	if len(kept) == len(entries) {
		return v, false
	}
	out := strings.Join(kept, ";")
	// Removing the last entry after a ';' leaves the ';' the entry had.
	if !strings.HasSuffix(v, ";") {
		out = strings.TrimSuffix(out, ";")
	}
	return out, true
}
