package winsetup

import (
	"slices"
	"testing"
)

const bin = `C:\Program Files\Berth\bin`

func TestAddDir(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		changed        bool
	}{
		{"empty Path", "", bin, true},
		{"appended last", `C:\Windows;C:\Tools`, `C:\Windows;C:\Tools;` + bin, true},
		{"trailing separator stays last", `C:\Windows;`, `C:\Windows;` + bin + `;`, true},
		{"already there", `C:\Windows;` + bin + `;C:\Tools`, `C:\Windows;` + bin + `;C:\Tools`, false},
		{"other case", `c:\program files\berth\BIN`, `c:\program files\berth\BIN`, false},
		{"trailing backslash", bin + `\`, bin + `\`, false},
		{"quoted", `"` + bin + `";C:\Tools`, `"` + bin + `";C:\Tools`, false},
		{"a variable is left alone, not expanded", `%ProgramFiles%\Berth\bin`, `%ProgramFiles%\Berth\bin;` + bin, true},
		{"%SystemRoot% entries unchanged", `%SystemRoot%\system32;%SystemRoot%`, `%SystemRoot%\system32;%SystemRoot%;` + bin, true},
		{"duplicates of others untouched", `C:\A;C:\A`, `C:\A;C:\A;` + bin, true},
		{"a quoted entry holding ; is one entry", `"C:\x;` + bin + `"`, `"C:\x;` + bin + `";` + bin, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := AddDir(tc.in, bin)
			if got != tc.want || changed != tc.changed {
				t.Errorf("AddDir(%q) = %q, %v; want %q, %v", tc.in, got, changed, tc.want, tc.changed)
			}
			// Adding twice changes nothing more.
			if again, ch := AddDir(got, bin); again != got || ch {
				t.Errorf("second AddDir(%q) = %q, %v", got, again, ch)
			}
		})
	}
	if got, _ := AddDir(`C:\A`, `C:\odd;dir`); got != `C:\A;"C:\odd;dir"` {
		t.Errorf("a folder holding ; must be quoted: %q", got)
	}
}

func TestRemoveDir(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		changed        bool
	}{
		{"empty Path", "", "", false},
		{"only entry", bin, "", true},
		{"last entry", `C:\Windows;` + bin, `C:\Windows`, true},
		{"first entry", bin + `;C:\Windows`, `C:\Windows`, true},
		{"middle entry", `C:\A;` + bin + `;C:\B`, `C:\A;C:\B`, true},
		{"trailing separator kept", `C:\A;` + bin + `;`, `C:\A;`, true},
		{"every copy, any case and form", `C:\A;` + bin + `;"` + bin + `\";C:\PROGRAM FILES\BERTH\BIN`, `C:\A`, true},
		{"absent", `C:\A;C:\B`, `C:\A;C:\B`, false},
		{"variables never removed", `%ProgramFiles%\Berth\bin;C:\A`, `%ProgramFiles%\Berth\bin;C:\A`, false},
		{"others' empty entries kept", `C:\A;;C:\B;` + bin, `C:\A;;C:\B`, true},
		{"a folder below Berth's stays", `C:\A;` + bin + `\sub`, `C:\A;` + bin + `\sub`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := RemoveDir(tc.in, bin)
			if got != tc.want || changed != tc.changed {
				t.Errorf("RemoveDir(%q) = %q, %v; want %q, %v", tc.in, got, changed, tc.want, tc.changed)
			}
		})
	}
}

func TestAddThenRemoveGivesBackThePath(t *testing.T) {
	for _, in := range []string{"", `C:\A`, `C:\A;`, `%SystemRoot%\system32;"C:\x;y";C:\B`} {
		added, _ := AddDir(in, bin)
		if back, _ := RemoveDir(added, bin); back != in {
			t.Errorf("add then remove of %q gave %q (added: %q)", in, back, added)
		}
	}
}

func TestSplitPathKeepsQuotedSeparators(t *testing.T) {
	got := splitPath(`a;"b;c";;d;`)
	if want := []string{"a", `"b;c"`, "", "d", ""}; !slices.Equal(got, want) {
		t.Errorf("splitPath = %q, want %q", got, want)
	}
}
