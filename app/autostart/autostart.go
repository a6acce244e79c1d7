// Package autostart opens Berth when the user logs in: an XDG autostart
// entry on Linux, a LaunchAgent on macOS, a Run value in the registry on
// Windows.
package autostart

import (
	"bytes"
	"encoding/xml"
	"strings"

	"github.com/berthvm/berth/assets"
)

// Entry is what runs at login.
type Entry struct {
	Exe  string
	Args []string
}

// Label names the entry in every OS's list of login items: the app's ID,
// as the desktop entry and icon the packages install are named.
const Label = assets.AppID

// desktopFile is the XDG autostart entry (Desktop Entry Specification).
func desktopFile(e Entry) []byte {
	var b bytes.Buffer
	b.WriteString("[Desktop Entry]\nType=Application\nName=Berth\nComment=Docker engine in a Linux VM\n")
	b.WriteString("Exec=" + execLine(e) + "\n")
	b.WriteString("Terminal=false\nX-GNOME-Autostart-enabled=true\n")
	return b.Bytes()
}

// execLine quotes each argument as the Exec key wants: in double quotes,
// with ", `, $ and \ escaped (and that escape escaped again by the string
// rule, so a backslash takes four), and % doubled (field codes).
func execLine(e Entry) string {
	args := append([]string{e.Exe}, e.Args...)
	for i, a := range args {
		var q strings.Builder
		q.WriteByte('"')
		for _, r := range a {
			switch r {
			case '\\': // escaped for the quoting rule, then for the string rule
				q.WriteString(`\\\\`)
			case '"', '`', '$':
				q.WriteString(`\\`)
				q.WriteRune(r)
			case '%':
				q.WriteString("%%")
			default:
				q.WriteRune(r)
			}
		}
		q.WriteByte('"')
		args[i] = q.String()
	}
	return strings.Join(args, " ")
}

// launchAgent is the macOS LaunchAgent property list.
func launchAgent(e Entry) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	b.WriteString("<plist version=\"1.0\">\n<dict>\n\t<key>Label</key>\n\t<string>" + Label + "</string>\n\t<key>ProgramArguments</key>\n\t<array>\n")
	for _, a := range append([]string{e.Exe}, e.Args...) {
		b.WriteString("\t\t<string>")
		xml.EscapeText(&b, []byte(a)) //nolint:errcheck // into a bytes.Buffer, which cannot fail
		b.WriteString("</string>\n")
	}
	b.WriteString("\t</array>\n\t<key>RunAtLoad</key>\n\t<true/>\n\t<key>ProcessType</key>\n\t<string>Interactive</string>\n</dict>\n</plist>\n")
	return b.Bytes()
}

// commandLine is the Windows Run value: each argument quoted per the
// CommandLineToArgvW rules.
func commandLine(e Entry) string {
	args := append([]string{e.Exe}, e.Args...)
	for i, a := range args {
		args[i] = windowsQuote(a)
	}
	return strings.Join(args, " ")
}

func windowsQuote(a string) string {
	if a != "" && !strings.ContainsAny(a, " \t\"") {
		return a
	}
	var q strings.Builder
	q.WriteByte('"')
	slashes := 0
	for _, r := range a {
		switch r {
		case '\\':
			slashes++
			continue
		case '"':
			q.WriteString(strings.Repeat(`\`, 2*slashes+1))
		default:
			q.WriteString(strings.Repeat(`\`, slashes))
		}
		slashes = 0
		q.WriteRune(r)
	}
	q.WriteString(strings.Repeat(`\`, 2*slashes))
	q.WriteByte('"')
	return q.String()
}
