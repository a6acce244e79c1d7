package p9share

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxNameUTF16 is the longest component NTFS and the Win32 API take
// (MAX_COMPONENT_LENGTH), counted in UTF-16 code units.
const maxNameUTF16 = 255

// errBadName is what every refused name wraps: the server answers EINVAL.
var errBadName = errors.New("name not allowed in a shared folder")

// CheckName says whether name may be one component of a path in a share,
// by Windows' rules, on every OS: what a Windows host would refuse or read
// as something else (a parent, a drive, a stream, a device) is refused on
// Linux and macOS too, so tests anywhere see what a Windows host enforces.
//
// The rules are Microsoft's "Naming Files, Paths, and Namespaces"
// (https://learn.microsoft.com/en-us/windows/win32/fileio/naming-a-file):
//   - "." and ".." are the directory itself and its parent;
//   - < > : " / \ | ? * and characters 1 through 31 (and NUL) are
//     reserved: \ and / separate components, ":" names a drive
//     ("C:x") or an alternate data stream ("x:stream"), ? and * are
//     wildcards (and "\\?\" a namespace prefix);
//   - CON, PRN, AUX, NUL, COM0-COM9, LPT0-LPT9 and COM/LPT with a
//     superscript ¹ ² ³ are devices, in any case, and "also avoid these
//     names followed immediately by an extension" (NUL.txt opens NUL on
//     Windows before 11); trailing spaces before the extension are ignored
//     by Windows ("CON .x" is CON); CONIN$ and CONOUT$ open the console
//     as CON does (CreateFile's documentation, "Consoles");
//   - "Do not end a file or directory name with a space or a period":
//     Win32 strips them, so "x." and "x" would be one file, and "... "
//     would be the directory itself;
//   - a component is at most 255 UTF-16 code units.
//
// Names must also be valid UTF-8: Windows would turn invalid bytes into
// U+FFFD and two names would meet in one file.
func CheckName(name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("%w: %q: %s", errBadName, name, err)
	}
	return nil
}

func checkName(name string) error {
	switch name {
	case "":
		return errors.New("empty")
	case ".", "..":
		return errors.New("the directory itself or its parent")
	}
	if !utf8.ValidString(name) {
		return errors.New("not UTF-8")
	}
	for _, r := range name {
		if r < 32 {
			return fmt.Errorf("control character %#x", r)
		}
		if strings.ContainsRune(`<>:"/\|?*`, r) {
			return fmt.Errorf("reserved character %q", r)
		}
	}
	if last := name[len(name)-1]; last == '.' || last == ' ' {
		return errors.New("ends in a period or a space")
	}
	if isDeviceName(name) {
		return errors.New("a Windows device name")
	}
	if n := len(utf16.Encode([]rune(name))); n > maxNameUTF16 {
		return fmt.Errorf("%d UTF-16 units, more than %d", n, maxNameUTF16)
	}
	return nil
}

// isDeviceName says whether Windows could read name as a device: its part
// before the first period, without trailing spaces, is one, in any case.
func isDeviceName(name string) bool {
	base, _, _ := strings.Cut(name, ".")
	base = strings.ToUpper(strings.TrimRight(base, " "))
	switch base {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if rest, ok := strings.CutPrefix(base, "COM"); ok {
		return isPortNumber(rest)
	}
	if rest, ok := strings.CutPrefix(base, "LPT"); ok {
		return isPortNumber(rest)
	}
	return false
}

// isPortNumber: one digit, or ¹ ² ³, which Windows counts as digits.
func isPortNumber(s string) bool {
	switch s {
	case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "\u00b9", "\u00b2", "\u00b3":
		return true
	}
	return false
}
