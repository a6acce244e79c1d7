package fwdproxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/berthvm/berth/netproxy/hostproxy"
)

// logBuf collects a proxy's log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testDial reaches every name under .test at 127.0.0.1, so that NO_PROXY
// sees names (httpproxy never proxies loopback addresses).
func testDial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(host, ".test") {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// start serves a proxy that follows *settings (swapped by the test).
func start(t *testing.T, settings *atomic.Pointer[hostproxy.Settings], log io.Writer) string {
	t.Helper()
	p := New(Config{
		Upstream: func(_ context.Context, u *url.URL) (*url.URL, error) { return settings.Load().ProxyFor(u) },
		Dial:     testDial,
		Log:      slog.New(slog.NewTextHandler(log, nil)),
	})
	return serve(t, p)
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if p, ok := h.(*Proxy); ok {
			p.Serve(ctx, l) //nolint:errcheck // ends with the test
		} else {
			(&http.Server{Handler: h}).Serve(l) //nolint:errcheck // closed below
		}
	}()
	t.Cleanup(func() { cancel(); l.Close(); <-done })
	return "http://" + l.Addr().String()
}

// upstream is a proxy the test runs as the host's own: it counts CONNECTs,
// and refuses them all when refuse is set.
type upstream struct {
	connects atomic.Int32
	refuse   bool
	inner    *Proxy
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		u.connects.Add(1)
		if u.refuse {
			http.Error(w, "policy says no", http.StatusForbidden)
			return
		}
	}
	u.inner.ServeHTTP(w, r)
}

func newUpstream(t *testing.T, refuse bool) (*upstream, string) {
	u := &upstream{refuse: refuse, inner: New(Config{
		Upstream: func(context.Context, *url.URL) (*url.URL, error) { return nil, nil },
		Dial:     testDial,
		Log:      slog.New(slog.DiscardHandler),
	})}
	return u, serve(t, u)
}

// tlsTarget is an HTTPS server named registry.test and a client that
// reaches it through proxyURL.
func tlsTarget(t *testing.T) (target string, client func(proxyURL string) *http.Client) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "hello through the tunnel")
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return "https://registry.test:" + port + "/v2/", func(proxyURL string) *http.Client {
		pu, _ := url.Parse(proxyURL)
		tr := srv.Client().Transport.(*http.Transport).Clone()
		tr.Proxy = http.ProxyURL(pu)
		tr.TLSClientConfig = &tls.Config{RootCAs: tr.TLSClientConfig.RootCAs, ServerName: "example.com"}
		tr.DisableKeepAlives = true
		return &http.Client{Transport: tr}
	}
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestConnectDirectThenThroughUpstreamAfterAChange(t *testing.T) {
	up, upURL := newUpstream(t, false)
	var s atomic.Pointer[hostproxy.Settings]
	s.Store(&hostproxy.Settings{})
	var log logBuf
	proxy := start(t, &s, &log)
	target, client := tlsTarget(t)

	if code, body := get(t, client(proxy), target); code != 200 || body != "hello through the tunnel" {
		t.Fatalf("direct: %d %q", code, body)
	}
	if n := up.connects.Load(); n != 0 {
		t.Fatalf("direct went through the upstream (%d CONNECTs)", n)
	}
	// The host now sets a proxy: the next connection takes it, with no
	// restart of anything.
	s.Store(&hostproxy.Settings{HTTPS: upURL, Source: "test"})
	if code, body := get(t, client(proxy), target); code != 200 || body != "hello through the tunnel" {
		t.Fatalf("through upstream: %d %q", code, body)
	}
	if n := up.connects.Load(); n != 1 {
		t.Errorf("upstream saw %d CONNECTs, want 1", n)
	}
	// NO_PROXY names the registry: direct again.
	s.Store(&hostproxy.Settings{HTTPS: upURL, NoProxy: "registry.test", Source: "test"})
	if code, _ := get(t, client(proxy), target); code != 200 {
		t.Fatalf("NO_PROXY: %d", code)
	}
	if n := up.connects.Load(); n != 1 {
		t.Errorf("NO_PROXY target went through the upstream (%d CONNECTs)", n)
	}
}

func TestPlainHTTPThroughUpstream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Proxy-Connection") != "" {
			t.Errorf("hop-by-hop header reached the target")
		}
		io.WriteString(w, "plain "+r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	var seen atomic.Int32
	upURL := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		New(Config{Upstream: func(context.Context, *url.URL) (*url.URL, error) { return nil, nil }, Dial: testDial, Log: slog.New(slog.DiscardHandler)}).ServeHTTP(w, r)
	}))
	var s atomic.Pointer[hostproxy.Settings]
	s.Store(&hostproxy.Settings{HTTP: upURL})
	proxy := start(t, &s, io.Discard)
	pu, _ := url.Parse(proxy)
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
	req, _ := http.NewRequest(http.MethodGet, "http://files.test:"+port+"/a", nil)
	req.Header.Set("Proxy-Connection", "keep-alive")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "plain /a" || seen.Load() != 1 {
		t.Errorf("got %q, upstream saw %d requests", b, seen.Load())
	}
}

func TestRefusingUpstreamIsA502AndALogLine(t *testing.T) {
	_, upURL := newUpstream(t, true)
	var s atomic.Pointer[hostproxy.Settings]
	s.Store(&hostproxy.Settings{HTTPS: upURL})
	var log logBuf
	proxy := start(t, &s, &log)
	code, reason := connect(t, proxy, "registry.test:443")
	if code != http.StatusBadGateway || !strings.Contains(reason, "refused CONNECT registry.test:443: 403") {
		t.Errorf("got %d %q, want 502 naming the refusal", code, reason)
	}
	if !strings.Contains(log.String(), "refused CONNECT") {
		t.Errorf("no log line: %s", log.String())
	}

	// An upstream that is not there at all.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	gone := "http://" + l.Addr().String()
	l.Close()
	s.Store(&hostproxy.Settings{HTTPS: gone})
	code, reason = connect(t, proxy, "registry.test:443")
	if code != http.StatusBadGateway || !strings.Contains(reason, "connect to the host's proxy") {
		t.Errorf("got %d %q, want 502 naming the host's proxy", code, reason)
	}
}

// connect sends CONNECT target to proxy and returns the status and body.
func connect(t *testing.T, proxy, target string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(proxy, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b)
}

// A request for a path (not a proxy request) goes to Local.
func TestOriginFormGoesToLocal(t *testing.T) {
	p := New(Config{Upstream: func(context.Context, *url.URL) (*url.URL, error) { return nil, nil }, Log: slog.New(slog.DiscardHandler),
		Local: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "local "+r.URL.Path) })})
	base := serve(t, p)
	code, body := get(t, http.DefaultClient, base+"/berth/v1/trust")
	if code != 200 || body != "local /berth/v1/trust" {
		t.Errorf("got %d %q", code, body)
	}
}

// A SOCKS proxy on the host is named as unsupported, not misused.
func TestUnsupportedUpstreamScheme(t *testing.T) {
	var s atomic.Pointer[hostproxy.Settings]
	s.Store(&hostproxy.Settings{HTTPS: "socks5://127.0.0.1:1080"})
	proxy := start(t, &s, io.Discard)
	if code, reason := connect(t, proxy, "registry.test:443"); code != http.StatusBadGateway || !strings.Contains(reason, "only http:// and https://") {
		t.Errorf("got %d %q", code, reason)
	}
}
