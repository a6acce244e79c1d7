//go:build linux

package engine

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/http/httpproxy"
)

// dockerd decides with Go's proxy rules (net/http's ProxyFromEnvironment):
// the registry goes to the gateway's proxy, the virtual network does not.
func TestProxyEnvAsDockerdReadsIt(t *testing.T) {
	if env := ProxyEnv(netip.MustParseAddr("192.168.127.1"), 0, netip.MustParsePrefix("192.168.127.2/24")); env != nil {
		t.Fatalf("no proxy port: env %q, want none", env)
	}
	env := map[string]string{}
	for _, kv := range ProxyEnv(netip.MustParseAddr("192.168.127.1"), 3128, netip.MustParsePrefix("192.168.127.2/24")) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	cfg := httpproxy.Config{HTTPProxy: env["HTTP_PROXY"], HTTPSProxy: env["HTTPS_PROXY"], NoProxy: env["NO_PROXY"]}
	proxy := cfg.ProxyFunc()
	for target, want := range map[string]string{
		"https://registry-1.docker.io/v2/":     "http://192.168.127.1:3128",
		"http://deb.debian.org/debian":         "http://192.168.127.1:3128",
		"https://host.docker.internal:5000/v2": "",
		"https://192.168.127.254:5000/v2":      "",
		"https://registry.berth.internal/v2":   "",
		"https://localhost:5000/v2":            "",
	} {
		u, _ := url.Parse(target)
		got, err := proxy(u)
		if err != nil {
			t.Fatal(err)
		}
		g := ""
		if got != nil {
			g = got.String()
		}
		if g != want {
			t.Errorf("%s: proxy %q, want %q", target, g, want)
		}
	}
	if env["http_proxy"] != env["HTTP_PROXY"] {
		t.Errorf("lower-case variables missing: %v", env)
	}
}
