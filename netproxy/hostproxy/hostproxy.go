// Package hostproxy reads the host's proxy settings (the environment on
// every OS, the system proxies on macOS and Windows, GNOME's on Linux) and
// decides, for one target, which upstream proxy to use or none. Parsing is
// pure; only the per-OS readers call the system.
package hostproxy

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpproxy"
)

// Settings are the host's proxies at one moment. Empty proxies mean direct.
type Settings struct {
	HTTP  string // proxy for http:// targets, a URL
	HTTPS string // proxy for https:// targets and CONNECT, a URL
	// NoProxy lists the targets reached directly, NO_PROXY's syntax
	// (comma-separated hosts, domains, IPs and CIDR prefixes).
	NoProxy string
	// BypassSimple sends names without a dot direct (WinINET's <local>,
	// macOS's ExcludeSimpleHostnames): NO_PROXY cannot say it.
	BypassSimple bool
	// PAC is an auto-configuration URL the system names; Berth does not
	// evaluate PAC scripts, so it is only reported.
	PAC string
	// Source says where the settings came from.
	Source string
}

// Direct reports whether no proxy is set at all.
func (s Settings) Direct() bool { return s.HTTP == "" && s.HTTPS == "" }

// ProxyFor is the proxy for target (nil: direct). The target's scheme picks
// the proxy; a CONNECT tunnel is asked for as https.
func (s Settings) ProxyFor(target *url.URL) (*url.URL, error) {
	if s.BypassSimple {
		h := target.Hostname()
		if !strings.Contains(h, ".") && !strings.Contains(h, ":") {
			return nil, nil
		}
	}
	cfg := httpproxy.Config{HTTPProxy: s.HTTP, HTTPSProxy: s.HTTPS, NoProxy: s.NoProxy}
	u, err := cfg.ProxyFunc()(target)
	if err != nil {
		return nil, fmt.Errorf("proxy setting from %s: %w", s.Source, err)
	}
	return u, nil
}

// Check parses the proxy URLs, so that a bad setting is reported when it is
// read rather than on each connection.
func (s Settings) Check() error {
	for _, p := range []string{s.HTTP, s.HTTPS} {
		if p == "" {
			continue
		}
		if u, err := url.Parse(withScheme(p)); err != nil || u.Hostname() == "" {
			return fmt.Errorf("proxy setting from %s: %q is not a proxy address", s.Source, p)
		}
	}
	return nil
}

// withScheme adds http:// to a bare host:port, as httpproxy does.
func withScheme(p string) string {
	if strings.Contains(p, "://") {
		return p
	}
	return "http://" + p
}

// FromEnv reads HTTP_PROXY, HTTPS_PROXY and NO_PROXY (upper case first, then
// lower case) through getenv.
func FromEnv(getenv func(string) string) Settings {
	get := func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return getenv(strings.ToLower(name))
	}
	return Settings{HTTP: get("HTTP_PROXY"), HTTPS: get("HTTPS_PROXY"), NoProxy: get("NO_PROXY"), Source: "environment"}
}

// Source gives the host's current settings.
type Source interface {
	Current(ctx context.Context) (Settings, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context) (Settings, error)

// Current calls f.
func (f SourceFunc) Current(ctx context.Context) (Settings, error) { return f(ctx) }

// Host is this host's source: the environment when it sets a proxy (what
// the user's shell says wins, as for curl), else the system's proxies
// (system is nil where the environment is the only setting).
func Host(getenv func(string) string, system Source) Source {
	return SourceFunc(func(ctx context.Context) (Settings, error) {
		env := FromEnv(getenv)
		if !env.Direct() || system == nil {
			return env, nil
		}
		s, err := system.Current(ctx)
		if err != nil {
			return Settings{Source: "environment"}, err
		}
		if s.NoProxy == "" {
			s.NoProxy = env.NoProxy
		}
		return s, nil
	})
}

// hostPort makes "host:port" or "host" (with the given default port) a
// proxy URL, refusing what is not an address.
func hostPort(v, defPort string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	if strings.Contains(v, "://") {
		u, err := url.Parse(v)
		if err != nil || u.Hostname() == "" {
			return "", fmt.Errorf("proxy %q: not an address", v)
		}
		return v, nil
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		host, port = v, defPort
	}
	if host == "" || strings.ContainsAny(host, " /;=") {
		return "", fmt.Errorf("proxy %q: not an address", v)
	}
	return "http://" + net.JoinHostPort(host, port), nil
}
