package hostproxy

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// gnomeSchema holds GNOME's proxy settings (what GNOME Settings › Network ›
// Proxy writes, and GLib's proxy resolver, Firefox and Chrome read).
const gnomeSchema = "org.gnome.system.proxy"

// ParseGSettings reads the output of `gsettings list-recursively
// org.gnome.system.proxy`: "SCHEMA KEY VALUE" lines, each value in GVariant
// text ('quoted' strings, numbers, true/false, ['lists']). Mode "manual"
// gives the http and https proxies (with the http one's credentials when
// use-authentication is on) and ignore-hosts as NO_PROXY; "auto" names a
// PAC script, which is reported and not evaluated; "none" is direct.
func ParseGSettings(out string) (Settings, error) {
	s := Settings{Source: "GNOME proxy settings"}
	kv := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.SplitN(strings.TrimSpace(sc.Text()), " ", 3)
		if len(f) < 3 {
			continue
		}
		if f[0] != gnomeSchema && !strings.HasPrefix(f[0], gnomeSchema+".") {
			return Settings{}, fmt.Errorf("gsettings: line %q: not in %s", sc.Text(), gnomeSchema)
		}
		kv[strings.TrimPrefix(strings.TrimPrefix(f[0], gnomeSchema), ".")+" "+f[1]] = f[2]
	}
	mode, err := gvariantString(kv[" mode"])
	if err != nil {
		return Settings{}, fmt.Errorf("gsettings: mode: %w", err)
	}
	switch mode {
	case "none", "":
		return s, nil
	case "auto":
		s.PAC, err = gvariantString(kv[" autoconfig-url"])
		return s, err
	case "manual":
	default:
		return Settings{}, fmt.Errorf("gsettings: mode %q: want none, manual or auto", mode)
	}
	for _, p := range []struct {
		scheme string
		dst    *string
	}{{"http", &s.HTTP}, {"https", &s.HTTPS}} {
		host, err := gvariantString(kv[p.scheme+" host"])
		if err != nil {
			return Settings{}, fmt.Errorf("gsettings: %s host: %w", p.scheme, err)
		}
		if host == "" {
			continue
		}
		port, err := strconv.ParseUint(strings.TrimPrefix(kv[p.scheme+" port"], "int32 "), 10, 16)
		if err != nil || port == 0 {
			return Settings{}, fmt.Errorf("gsettings: %s port %q: want 1 to 65535", p.scheme, kv[p.scheme+" port"])
		}
		u := &url.URL{Scheme: "http", Host: net.JoinHostPort(host, strconv.FormatUint(port, 10))}
		if p.scheme == "http" && kv["http use-authentication"] == "true" {
			user, err1 := gvariantString(kv["http authentication-user"])
			pass, err2 := gvariantString(kv["http authentication-password"])
			if err1 != nil || err2 != nil {
				return Settings{}, fmt.Errorf("gsettings: http authentication: not strings")
			}
			u.User = url.UserPassword(user, pass)
		}
		*p.dst = u.String()
	}
	ignore, err := gvariantStrings(kv[" ignore-hosts"])
	if err != nil {
		return Settings{}, fmt.Errorf("gsettings: ignore-hosts: %w", err)
	}
	s.NoProxy = strings.Join(ignore, ",")
	return s, nil
}

// gvariantString reads a GVariant string as gsettings prints one: 'text',
// with \' and \\ escaped ("" for an absent key).
func gvariantString(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	s, rest, err := gvariantQuoted(v)
	if err != nil {
		return "", err
	}
	if rest != "" {
		return "", fmt.Errorf("%q: text after the string", v)
	}
	return s, nil
}

// gvariantStrings reads a list of strings: ['a', 'b'], or @as [] empty.
func gvariantStrings(v string) ([]string, error) {
	v = strings.TrimSpace(strings.TrimPrefix(v, "@as"))
	if v == "" || v == "[]" {
		return nil, nil
	}
	if !strings.HasPrefix(v, "[") || !strings.HasSuffix(v, "]") {
		return nil, fmt.Errorf("%q: not a list", v)
	}
	var out []string
	for rest := strings.TrimSpace(v[1 : len(v)-1]); rest != ""; {
		s, r, err := gvariantQuoted(rest)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		rest = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(r), ","))
	}
	return out, nil
}

// gvariantQuoted reads one quoted string at the start of v (gsettings
// quotes with ' unless the text holds one, then with ") and returns it
// and what follows.
func gvariantQuoted(v string) (string, string, error) {
	if v == "" || (v[0] != '\'' && v[0] != '"') {
		return "", "", fmt.Errorf("%q: not a quoted string", v)
	}
	q := v[0]
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && i+1 < len(v):
			i++
			b.WriteByte(v[i])
		case c == q:
			return b.String(), v[i+1:], nil
		default:
			b.WriteByte(c)
		}
	}
	return "", "", fmt.Errorf("%q: unterminated string", v)
}
