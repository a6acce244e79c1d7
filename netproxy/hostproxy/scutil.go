package hostproxy

import (
	"bufio"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ParseScutil reads the output of macOS's `scutil --proxy`: a dictionary of
// "Key : value" lines with ExceptionsList as an array of "N : value" lines.
func ParseScutil(out string) (Settings, error) {
	s := Settings{Source: "macOS system proxies"}
	kv := map[string]string{}
	var exceptions []string
	inArray := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "<dictionary>"):
			continue
		case line == "}":
			inArray = ""
			continue
		}
		key, val, ok := strings.Cut(line, " : ")
		if !ok {
			return Settings{}, fmt.Errorf("scutil --proxy: line %q: want KEY : VALUE", line)
		}
		if strings.HasPrefix(val, "<array>") {
			inArray = key
			continue
		}
		if inArray == "ExceptionsList" {
			exceptions = append(exceptions, val)
			continue
		}
		if inArray == "" {
			kv[key] = val
		}
	}
	for _, p := range []struct {
		name string
		dst  *string
	}{{"HTTP", &s.HTTP}, {"HTTPS", &s.HTTPS}} {
		if kv[p.name+"Enable"] != "1" {
			continue
		}
		port := kv[p.name+"Port"]
		if port == "" {
			port = "80"
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return Settings{}, fmt.Errorf("scutil --proxy: %sPort %q: %w", p.name, port, err)
		}
		u, err := hostPort(kv[p.name+"Proxy"]+":"+port, port)
		if err != nil || kv[p.name+"Proxy"] == "" {
			return Settings{}, fmt.Errorf("scutil --proxy: %sProxy %q: not an address", p.name, kv[p.name+"Proxy"])
		}
		*p.dst = u
	}
	if kv["ProxyAutoConfigEnable"] == "1" {
		s.PAC = kv["ProxyAutoConfigURLString"]
	}
	s.BypassSimple = kv["ExcludeSimpleHostnames"] == "1"
	s.NoProxy = noProxyList(exceptions)
	return s, sc.Err()
}

// noProxyList turns system bypass patterns into NO_PROXY entries: "*.x"
// stays (NO_PROXY takes it), short IPv4 prefixes become CIDR ("169.254/16",
// "10.*"), and what NO_PROXY cannot say is dropped.
func noProxyList(patterns []string) string {
	var out []string
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if p == "" || p == "<local>" {
			continue
		}
		if c, ok := ipv4Pattern(p); ok {
			out = append(out, c)
			continue
		}
		if strings.Contains(strings.TrimPrefix(p, "*."), "*") {
			continue // an inner wildcard: NO_PROXY has none
		}
		out = append(out, p)
	}
	return strings.Join(out, ",")
}

// ipv4Pattern reads "10.*", "192.168.*.*", "169.254/16" or "10.1.2.3" as
// a CIDR prefix.
func ipv4Pattern(p string) (string, bool) {
	addr, bits, hasBits := strings.Cut(p, "/")
	parts := strings.Split(addr, ".")
	if len(parts) > 4 {
		return "", false
	}
	var octets []string
	for _, o := range parts {
		if o == "*" {
			break
		}
		if _, err := strconv.ParseUint(o, 10, 8); err != nil {
			return "", false
		}
		octets = append(octets, o)
	}
	if len(octets) == 0 {
		return "", false
	}
	n := len(octets) * 8
	for len(octets) < 4 {
		octets = append(octets, "0")
	}
	if hasBits {
		b, err := strconv.Atoi(bits)
		if err != nil || b < 0 || b > 32 {
			return "", false
		}
		n = b
	}
	pfx, err := netip.ParsePrefix(strings.Join(octets, ".") + "/" + strconv.Itoa(n))
	if err != nil {
		return "", false
	}
	return pfx.Masked().String(), true
}
