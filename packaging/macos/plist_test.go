// Package macos holds what Berth.app is made of; the test checks its
// property lists, which no tool here can (plutil is macOS's).
package macos

import (
	"encoding/xml"
	"os"
	"testing"
)

// plistDict reads a property list whose root is a dict of simple values.
func plistDict(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Dict struct {
			Items []struct {
				XMLName xml.Name
				Value   string `xml:",chardata"`
			} `xml:",any"`
		} `xml:"dict"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := map[string]string{}
	items := doc.Dict.Items
	for i := 0; i+1 < len(items); i += 2 {
		if items[i].XMLName.Local != "key" {
			t.Fatalf("%s: %s where a key should be", path, items[i].XMLName.Local)
		}
		v := items[i+1]
		if v.XMLName.Local == "true" || v.XMLName.Local == "false" {
			out[items[i].Value] = v.XMLName.Local
		} else {
			out[items[i].Value] = v.Value
		}
	}
	return out
}

func TestEntitlements(t *testing.T) {
	e := plistDict(t, "berth.entitlements")
	if e["com.apple.security.virtualization"] != "true" {
		t.Fatalf("the virtualization entitlement is missing: %v", e)
	}
}

func TestInfoPlist(t *testing.T) {
	p := plistDict(t, "Info.plist")
	for k, want := range map[string]string{
		"CFBundleExecutable":     "berth-gui",
		"CFBundlePackageType":    "APPL",
		"LSMinimumSystemVersion": "12.3",
		"LSUIElement":            "true",
	} {
		if p[k] != want {
			t.Errorf("%s = %q, want %q", k, p[k], want)
		}
	}
	if p["CFBundleIdentifier"] == "" || p["CFBundleShortVersionString"] != "@VERSION@" {
		t.Errorf("identifier or version placeholder missing: %v", p)
	}
}
