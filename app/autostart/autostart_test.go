package autostart

import (
	"encoding/xml"
	"strings"
	"testing"
)

func TestExecLineQuoting(t *testing.T) {
	got := execLine(Entry{Exe: `/opt/My Apps/berth`, Args: []string{"gui", `a"b`, `c\d`, "50%", "$HOME"}})
	want := `"/opt/My Apps/berth" "gui" "a\\"b" "c\\\\d" "50%%" "\\$HOME"`
	if got != want {
		t.Errorf("execLine:\n got %s\nwant %s", got, want)
	}
}

func TestLaunchAgentIsValidPlist(t *testing.T) {
	b := launchAgent(Entry{Exe: "/Applications/Berth.app/Contents/MacOS/berth", Args: []string{"gui", "<&>"}})
	var doc struct {
		Dict struct {
			Strings []string `xml:"string"`
			Array   []string `xml:"array>string"`
		} `xml:"dict"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("plist does not parse: %v\n%s", err, b)
	}
	if doc.Dict.Strings[0] != Label || strings.Join(doc.Dict.Array, " ") != "/Applications/Berth.app/Contents/MacOS/berth gui <&>" {
		t.Errorf("plist content: %+v", doc.Dict)
	}
}

func TestCommandLineQuoting(t *testing.T) {
	got := commandLine(Entry{Exe: `C:\Program Files\Berth\berth.exe`, Args: []string{"gui", `say "hi"`, `C:\dir with space\`}})
	want := `"C:\Program Files\Berth\berth.exe" gui "say \"hi\"" "C:\dir with space\\"`
	if got != want {
		t.Errorf("commandLine:\n got %s\nwant %s", got, want)
	}
}

// The desktop entry is made on every OS, so each can check it.
func TestDesktopFile(t *testing.T) {
	got := string(desktopFile(Entry{Exe: "/usr/bin/berth", Args: []string{"gui"}}))
	if !strings.Contains(got, "[Desktop Entry]\nType=Application\n") || !strings.Contains(got, "Exec=\"/usr/bin/berth\" \"gui\"\n") {
		t.Errorf("desktop entry:\n%s", got)
	}
}
