package hostproxy

import (
	"fmt"
	"strings"
)

// WinINET is what Windows keeps under HKCU\Software\Microsoft\Windows\
// CurrentVersion\Internet Settings.
type WinINET struct {
	ProxyEnable   uint32
	ProxyServer   string // "host:port" or "http=h:p;https=h:p;…"
	ProxyOverride string // ";"-separated bypass patterns, "<local>" for dotless names
	AutoConfigURL string
}

// ParseWinINET turns the registry values into settings.
func ParseWinINET(w WinINET) (Settings, error) {
	s := Settings{Source: "Windows Internet settings", PAC: strings.TrimSpace(w.AutoConfigURL)}
	if w.ProxyEnable == 0 || strings.TrimSpace(w.ProxyServer) == "" {
		return s, nil
	}
	server := strings.TrimSpace(w.ProxyServer)
	if !strings.Contains(server, "=") {
		u, err := hostPort(server, "80")
		if err != nil {
			return Settings{}, fmt.Errorf("ProxyServer: %w", err)
		}
		s.HTTP, s.HTTPS = u, u
	} else {
		for _, part := range strings.Split(server, ";") {
			scheme, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok {
				if part = strings.TrimSpace(part); part != "" {
					return Settings{}, fmt.Errorf("ProxyServer %q: entry %q wants SCHEME=HOST:PORT", server, part)
				}
				continue
			}
			u, err := hostPort(addr, "80")
			if err != nil {
				return Settings{}, fmt.Errorf("ProxyServer: %w", err)
			}
			switch strings.ToLower(scheme) {
			case "http":
				s.HTTP = u
			case "https":
				s.HTTPS = u
			}
		}
	}
	var patterns []string
	for _, p := range strings.Split(w.ProxyOverride, ";") {
		if strings.TrimSpace(p) == "<local>" {
			s.BypassSimple = true
		}
		patterns = append(patterns, p)
	}
	s.NoProxy = noProxyList(patterns)
	return s, nil
}
