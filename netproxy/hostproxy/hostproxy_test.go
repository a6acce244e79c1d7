package hostproxy

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseScutil(t *testing.T) {
	for _, tc := range []struct {
		file    string
		want    Settings
		wantErr string
	}{
		{file: "scutil-manual.txt", want: Settings{
			HTTP: "http://proxy.example.com:3128", HTTPS: "http://secure.example.com:8443",
			NoProxy: "*.local,169.254.0.0/16,10.0.0.0/8,corp.example.com", BypassSimple: true,
			Source: "macOS system proxies"}},
		{file: "scutil-none.txt", want: Settings{NoProxy: "*.local,169.254.0.0/16", Source: "macOS system proxies"}},
		{file: "scutil-pac.txt", want: Settings{NoProxy: "*.local", PAC: "http://wpad.example.com/proxy.pac", Source: "macOS system proxies"}},
		{file: "scutil-badport.txt", wantErr: "HTTPPort"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseScutil(string(b))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseWinINET(t *testing.T) {
	const src = "Windows Internet settings"
	for _, tc := range []struct {
		name    string
		in      WinINET
		want    Settings
		wantErr bool
	}{
		{"off", WinINET{ProxyEnable: 0, ProxyServer: "proxy:8080"}, Settings{Source: src}, false},
		{"one for all", WinINET{ProxyEnable: 1, ProxyServer: "proxy.corp:8080", ProxyOverride: "<local>;*.corp;192.168.*"},
			Settings{HTTP: "http://proxy.corp:8080", HTTPS: "http://proxy.corp:8080", NoProxy: "*.corp,192.168.0.0/16", BypassSimple: true, Source: src}, false},
		{"per scheme", WinINET{ProxyEnable: 1, ProxyServer: "http=web:80;https=sec:443;ftp=f:21;socks=s:1080"},
			Settings{HTTP: "http://web:80", HTTPS: "http://sec:443", Source: src}, false},
		{"no port", WinINET{ProxyEnable: 1, ProxyServer: "proxy"},
			Settings{HTTP: "http://proxy:80", HTTPS: "http://proxy:80", Source: src}, false},
		{"PAC only", WinINET{AutoConfigURL: "http://wpad/wpad.dat"}, Settings{PAC: "http://wpad/wpad.dat", Source: src}, false},
		{"inner wildcard dropped", WinINET{ProxyEnable: 1, ProxyServer: "p:1", ProxyOverride: "a*b.com;10.1.2.3"},
			Settings{HTTP: "http://p:1", HTTPS: "http://p:1", NoProxy: "10.1.2.3/32", Source: src}, false},
		{"garbage", WinINET{ProxyEnable: 1, ProxyServer: "http=;https=x y:1"}, Settings{}, true},
		{"entry without scheme", WinINET{ProxyEnable: 1, ProxyServer: "http=a:1;b:2"}, Settings{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseWinINET(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err == nil && got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{"http_proxy": "http://low:1", "HTTPS_PROXY": "http://up:2", "no_proxy": "a.com"}
	got := FromEnv(func(k string) string { return env[k] })
	want := Settings{HTTP: "http://low:1", HTTPS: "http://up:2", NoProxy: "a.com", Source: "environment"}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestProxyFor(t *testing.T) {
	s := Settings{HTTP: "http://web:80", HTTPS: "http://sec:443", NoProxy: "*.corp,10.0.0.0/8,direct.example.com", BypassSimple: true}
	for target, want := range map[string]string{
		"https://registry.example.com:443": "http://sec:443",
		"http://registry.example.com":      "http://web:80",
		"https://x.corp":                   "",
		"https://10.1.2.3:5000":            "",
		"https://sub.direct.example.com":   "",
		"https://intranet":                 "", // dotless: BypassSimple
		"https://localhost:5000":           "", // httpproxy never proxies loopback
	} {
		u, _ := url.Parse(target)
		got, err := s.ProxyFor(u)
		if err != nil {
			t.Fatal(err)
		}
		if g := ""; got != nil {
			g = got.String()
			if g != want {
				t.Errorf("%s: proxy %s, want %q", target, g, want)
			}
		} else if want != "" {
			t.Errorf("%s: direct, want %s", target, want)
		}
	}
}

func TestHostPrefersEnvironment(t *testing.T) {
	sys := SourceFunc(func(context.Context) (Settings, error) {
		return Settings{HTTPS: "http://sys:1", Source: "system"}, nil
	})
	env := map[string]string{}
	src := Host(func(k string) string { return env[k] }, sys)
	if s, _ := src.Current(context.Background()); s.Source != "system" {
		t.Errorf("no environment: got %+v, want the system's", s)
	}
	env["HTTPS_PROXY"] = "http://env:2"
	if s, _ := src.Current(context.Background()); s.HTTPS != "http://env:2" {
		t.Errorf("environment set: got %+v", s)
	}
}

func TestCachedFallsBackToDirectAndLogs(t *testing.T) {
	var n int
	var fail error
	src := SourceFunc(func(context.Context) (Settings, error) {
		n++
		if fail != nil {
			return Settings{}, fail
		}
		return Settings{HTTP: "http://p:1", Source: "test"}, nil
	})
	var logBuf bytes.Buffer
	c := NewCached(src, time.Minute, slog.New(slog.NewTextHandler(&logBuf, nil)))
	now := time.Unix(0, 0)
	c.now = func() time.Time { return now }
	ctx := context.Background()
	if s, _ := c.Current(ctx); s.HTTP != "http://p:1" {
		t.Fatalf("got %+v", s)
	}
	c.Current(ctx)
	if n != 1 {
		t.Errorf("source read %d times within the ttl, want 1", n)
	}
	fail = errors.New("scutil exploded")
	now = now.Add(2 * time.Minute)
	s, err := c.Current(ctx)
	if err != nil || !s.Direct() {
		t.Errorf("failed read: got %+v, %v; want direct", s, err)
	}
	if !strings.Contains(logBuf.String(), "scutil exploded") {
		t.Errorf("log does not say why: %s", logBuf.String())
	}
	fail = nil
	src2 := SourceFunc(func(context.Context) (Settings, error) {
		return Settings{HTTP: "http://bad host:1", Source: "env"}, nil
	})
	c2 := NewCached(src2, time.Minute, slog.New(slog.NewTextHandler(&logBuf, nil)))
	if s, _ := c2.Current(ctx); !s.Direct() {
		t.Errorf("unparsable proxy: got %+v, want direct", s)
	}
	if !strings.Contains(logBuf.String(), "bad host") {
		t.Errorf("log does not name the bad setting: %s", logBuf.String())
	}
}
