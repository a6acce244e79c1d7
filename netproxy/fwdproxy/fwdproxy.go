// Package fwdproxy is the HTTP forward proxy the guest's engine always
// talks to: plain HTTP requests and CONNECT tunnels, each sent through the
// upstream proxy the host uses at that moment or dialed directly. Because
// the engine's own proxy setting never changes, a change on the host needs
// no engine restart; it applies from the next connection.
package fwdproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/berthvm/berth/netproxy/relay"
)

// Config wires a Proxy.
type Config struct {
	// Upstream is the proxy for target (nil: direct), asked for each new
	// connection or request.
	Upstream func(ctx context.Context, target *url.URL) (*url.URL, error)
	// Dial opens connections from the host (to targets or the upstream).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	Log  *slog.Logger
	// Local, when set, answers requests that are not proxy requests
	// (origin-form: a path, no absolute URL): the host's own services on
	// the same address.
	Local http.Handler
}

// Proxy serves HTTP forward-proxy requests.
type Proxy struct {
	cfg Config
	tr  *http.Transport
}

// New makes a proxy.
func New(cfg Config) *Proxy {
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{Timeout: 30 * time.Second}).DialContext
	}
	p := &Proxy{cfg: cfg}
	p.tr = &http.Transport{
		Proxy: func(r *http.Request) (*url.URL, error) {
			return cfg.Upstream(r.Context(), r.URL)
		},
		DialContext:         cfg.Dial,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		// The client speaks to the target's TLS itself (CONNECT): requests
		// here are plain HTTP, so no TLS settings.
	}
	return p
}

// Serve answers proxy requests on l until ctx ends.
func (p *Proxy) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(p.cfg.Log.Handler(), slog.LevelDebug)}
	stop := context.AfterFunc(ctx, func() { srv.Close() }) //nolint:errcheck // Serve reports the end
	defer stop()
	err := srv.Serve(l)
	p.tr.CloseIdleConnections()
	if ctx.Err() != nil || errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("proxy: %w", err)
}

// ServeHTTP handles one request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		p.connect(w, r)
		return
	}
	if !r.URL.IsAbs() || r.URL.Host == "" {
		if p.cfg.Local != nil {
			p.cfg.Local.ServeHTTP(w, r)
			return
		}
		http.Error(w, "this is a forward proxy: send absolute URLs or CONNECT", http.StatusBadRequest)
		return
	}
	p.forward(w, r)
}

// hopHeaders are the connection's own, not the request's (RFC 9110 7.6.1).
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func dropHop(h http.Header) {
	for _, f := range h.Values("Connection") {
		for _, name := range strings.Split(f, ",") {
			h.Del(strings.TrimSpace(name))
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
}

func (p *Proxy) forward(w http.ResponseWriter, r *http.Request) {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	dropHop(out.Header)
	resp, err := p.tr.RoundTrip(out)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	defer resp.Body.Close()
	dropHop(resp.Header)
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(w, resp.Body); err != nil {
		p.cfg.Log.Debug("proxy: response body cut", "url", r.URL.Redacted(), "err", err)
	}
}

func (p *Proxy) connect(w http.ResponseWriter, r *http.Request) {
	target := r.Host
	if _, _, err := net.SplitHostPort(target); err != nil {
		http.Error(w, "CONNECT wants HOST:PORT", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	up, via, err := p.dialTunnel(ctx, target)
	cancel()
	if err != nil {
		p.fail(w, r, err)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "cannot tunnel on this connection", http.StatusInternalServerError)
		return
	}
	client, buf, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	if _, err := client.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		client.Close()
		up.Close()
		return
	}
	// Bytes the client sent after its request (a TLS hello) go first.
	if n := buf.Reader.Buffered(); n > 0 {
		b, _ := buf.Peek(n)
		if _, err := up.Write(b); err != nil {
			client.Close()
			up.Close()
			return
		}
	}
	p.cfg.Log.Debug("proxy: tunnel", "target", target, "via", via)
	relay.Join(context.Background(), client, up)
	client.Close()
	up.Close()
}

// dialTunnel opens a byte stream to target: through the upstream proxy's
// CONNECT, or directly. via names the way, for the log.
func (p *Proxy) dialTunnel(ctx context.Context, target string) (net.Conn, string, error) {
	up, err := p.cfg.Upstream(ctx, &url.URL{Scheme: "https", Host: target})
	if err != nil {
		return nil, "", err
	}
	if up == nil {
		c, err := p.cfg.Dial(ctx, "tcp", target)
		if err != nil {
			return nil, "", fmt.Errorf("connect to %s directly: %w", target, err)
		}
		return c, "direct", nil
	}
	port := map[string]string{"http": "80", "https": "443"}[up.Scheme]
	if port == "" {
		return nil, "", fmt.Errorf("the host's proxy %s: only http:// and https:// proxies are supported", up.Redacted())
	}
	addr := up.Host
	if up.Port() == "" {
		addr = net.JoinHostPort(up.Hostname(), port)
	}
	c, err := p.cfg.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("connect to the host's proxy %s: %w", up.Redacted(), err)
	}
	if up.Scheme == "https" {
		c = tls.Client(c, &tls.Config{ServerName: up.Hostname(), MinVersion: tls.VersionTLS12})
	}
	if err := upstreamConnect(ctx, c, up, target); err != nil {
		c.Close()
		return nil, "", err
	}
	return c, up.Redacted(), nil
}

// upstreamConnect asks the upstream proxy on c for a tunnel to target.
func upstreamConnect(ctx context.Context, c net.Conn, up *url.URL, target string) error {
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
		defer c.SetDeadline(time.Time{})
	}
	req := "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n"
	if u := up.User; u != nil {
		pw, _ := u.Password()
		req += "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pw)) + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		return fmt.Errorf("the host's proxy %s: %w", up.Redacted(), err)
	}
	// One byte at a time would be exact; a bufio reader may read past the
	// header into the tunnel, so keep what it buffered.
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		return fmt.Errorf("the host's proxy %s: no answer to CONNECT %s: %w", up.Redacted(), target, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the host's proxy %s refused CONNECT %s: %s", up.Redacted(), target, resp.Status)
	}
	if br.Buffered() > 0 {
		return fmt.Errorf("the host's proxy %s sent data before the tunnel opened", up.Redacted())
	}
	return nil
}

// fail answers 502 with the reason and logs it: dockerd shows only the
// status, so the log line is where a user reads why.
func (p *Proxy) fail(w http.ResponseWriter, r *http.Request, err error) {
	target := r.Host
	if r.Method != http.MethodConnect {
		target = r.URL.Redacted()
	}
	p.cfg.Log.Warn("proxy: request failed", "method", r.Method, "target", target, "err", err)
	http.Error(w, "Berth's proxy: "+err.Error(), http.StatusBadGateway)
}
