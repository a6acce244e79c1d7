package p9share

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckNameRefusesWhatWindowsReadsOtherwise(t *testing.T) {
	for _, name := range []string{
		"", ".", "..",
		`..\..\Windows\win.ini`, `a\b`, `\x`, "a/b", "/etc",
		"C:x", `C:\x`, "x:stream", "x::$DATA",
		"a*", "a?", `\\?\C:`, "a<b", "a>b", `a"b`, "a|b",
		"a\x00b", "a\x01", "tab\there", "\x1f",
		"CON", "con", "PRN", "AUX", "NUL", "nul.txt", "NUL.tar.gz", "CON .x", "con  .txt",
		"COM0", "COM1", "com9.log", "LPT1", "lpt0", "COM\u00b9", "lpt\u00b2.x", "COM\u00b3",
		"CONIN$", "conout$", "CONIN$.txt",
		"x.", "x ", "...", "a. ", ". ",
		strings.Repeat("a", 256), strings.Repeat("\U0001F600", 128), // 256 UTF-16 units
		"\xff\xfe", "a\xc0",
	} {
		if err := CheckName(name); !errors.Is(err, errBadName) {
			t.Errorf("CheckName(%q) = %v, want refused", name, err)
		}
	}
}

func TestCheckNameTakesOrdinaryNames(t *testing.T) {
	for _, name := range []string{
		"a", "hello.txt", ".bashrc", ".git", "..x", "x..y", " lead", "CONSOLE", "CON_x", "NULL",
		"COM10", "LPT", "COM", "xCON", "auxiliary.txt", "COM\u2074", "résumé.pdf", "日本語",
		strings.Repeat("a", 255), strings.Repeat("\U0001F600", 127) + "a",
	} {
		if err := CheckName(name); err != nil {
			t.Errorf("CheckName(%q) = %v, want taken", name, err)
		}
	}
}

// The rule localfs lacks: p9's own name check (the server's, which is all
// localfs has) refuses "", ".", ".." and "/" only. This copy of it takes
// the backslash escape that CheckName refuses.
func TestLocalfsNameCheckTakesBackslashEscape(t *testing.T) {
	p9Check := func(name string) bool { // hugelgupf/p9 v0.4.1 p9/handlers.go checkSafeName
		return name != "" && !strings.Contains(name, "/") && name != "." && name != ".."
	}
	for _, name := range []string{`..\..\x`, "C:x", "x:stream", "CON", "nul.txt", "x.", "x "} {
		if !p9Check(name) {
			t.Fatalf("p9's check refuses %q; the comparison is stale", name)
		}
		if CheckName(name) == nil {
			t.Errorf("CheckName takes %q", name)
		}
	}
}
