package hostproxy

import (
	"strings"
	"testing"
)

// gsettingsManual is `gsettings list-recursively org.gnome.system.proxy`
// (GLib 2.74, gsettings-desktop-schemas 43) after GNOME Settings set a
// manual proxy with an authenticated http proxy.
const gsettingsManual = `org.gnome.system.proxy autoconfig-url ''
org.gnome.system.proxy ignore-hosts ['localhost', '127.0.0.0/8', '::1', '*.corp.example', "o'hara.example"]
org.gnome.system.proxy mode 'manual'
org.gnome.system.proxy use-same-proxy true
org.gnome.system.proxy.ftp host ''
org.gnome.system.proxy.ftp port 0
org.gnome.system.proxy.http authentication-password 'p@ss:w\'d'
org.gnome.system.proxy.http authentication-user 'me'
org.gnome.system.proxy.http enabled false
org.gnome.system.proxy.http host 'proxy.corp.example'
org.gnome.system.proxy.http port 3128
org.gnome.system.proxy.http use-authentication true
org.gnome.system.proxy.https host '10.0.0.8'
org.gnome.system.proxy.https port 3129
org.gnome.system.proxy.socks host ''
org.gnome.system.proxy.socks port 0
`

func TestParseGSettings(t *testing.T) {
	s, err := ParseGSettings(gsettingsManual)
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{HTTP: "http://me:p%40ss%3Aw%27d@proxy.corp.example:3128", HTTPS: "http://10.0.0.8:3129",
		NoProxy: "localhost,127.0.0.0/8,::1,*.corp.example,o'hara.example", Source: "GNOME proxy settings"}
	if s != want {
		t.Errorf("manual:\n got %+v\nwant %+v", s, want)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}

	for name, c := range map[string]struct {
		out  string
		want Settings
	}{
		"none, the default": {strings.Replace(gsettingsManual, "mode 'manual'", "mode 'none'", 1), Settings{Source: "GNOME proxy settings"}},
		"auto: PAC reported": {strings.NewReplacer("mode 'manual'", "mode 'auto'", "autoconfig-url ''", "autoconfig-url 'http://wpad/wpad.dat'").Replace(gsettingsManual),
			Settings{PAC: "http://wpad/wpad.dat", Source: "GNOME proxy settings"}},
		"manual, https only, nothing ignored": {"org.gnome.system.proxy mode 'manual'\norg.gnome.system.proxy ignore-hosts @as []\n" +
			"org.gnome.system.proxy.http host ''\norg.gnome.system.proxy.http port 8080\norg.gnome.system.proxy.https host '127.0.0.1'\norg.gnome.system.proxy.https port 8888\n",
			Settings{HTTPS: "http://127.0.0.1:8888", Source: "GNOME proxy settings"}},
		"an IPv6 proxy": {"org.gnome.system.proxy mode 'manual'\norg.gnome.system.proxy.https host 'fd00::1'\norg.gnome.system.proxy.https port 3128\n",
			Settings{HTTPS: "http://[fd00::1]:3128", Source: "GNOME proxy settings"}},
	} {
		got, err := ParseGSettings(c.out)
		if err != nil || got != c.want {
			t.Errorf("%s:\n got %+v, %v\nwant %+v", name, got, err, c.want)
		}
	}

	for name, out := range map[string]string{
		"a host with port 0":   strings.Replace(gsettingsManual, "https port 3129", "https port 0", 1),
		"an unknown mode":      strings.Replace(gsettingsManual, "mode 'manual'", "mode 'pac'", 1),
		"an unquoted host":     strings.Replace(gsettingsManual, "'10.0.0.8'", "10.0.0.8", 1),
		"an unterminated list": strings.Replace(gsettingsManual, "'::1', ", "'::1, ", 1),
		"another schema":       "org.gnome.desktop.interface gtk-theme 'Adwaita'\n",
	} {
		if s, err := ParseGSettings(out); err == nil {
			t.Errorf("%s: no error, got %+v", name, s)
		}
	}
}
