package apifilter

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berthvm/berth/netproxy/relay"
)

// engine is a stand-in for dockerd on a unix socket: create echoes its
// body, attach upgrades and echoes until the client's EOF, then says bye.
func engine(t *testing.T) string {
	sock := filepath.Join(t.TempDir(), "engine.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1.47/containers/create", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"got":%s}`, b)
	})
	mux.HandleFunc("GET /_ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") })
	mux.HandleFunc("POST /containers/x/attach", func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
		buf.Flush()
		in, _ := io.ReadAll(buf)
		conn.Write(append([]byte("echo:"), in...))
		conn.Write([]byte(" bye"))
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

// proxy serves the filter on a new socket in front of the engine.
func proxy(t *testing.T, engineSock string, vet Vet) string {
	sock, _ := gatedProxy(t, engineSock, vet, nil)
	return sock
}

// gatedProxy serves the filter with a gate.
func gatedProxy(t *testing.T, engineSock string, vet Vet, gate Gate) (string, *Filter) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	f := &Filter{Vet: vet, Gate: gate, Log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		relay.Forward(ctx, l, func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", engineSock)
		}, f.Join, slog.New(slog.DiscardHandler))
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return sock, f
}

func client(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}

func TestCreateIsVetted(t *testing.T) {
	vet := func(b []byte) ([]byte, error) {
		if strings.Contains(string(b), "/etc") {
			return nil, errors.New("bind mount source /etc is not shared with the Berth VM")
		}
		return []byte(strings.ReplaceAll(string(b), `C:\\src`, "/mnt/host/c/src")), nil
	}
	c := client(proxy(t, engine(t), vet))

	// Keep-alive: several requests on one connection, one of them rewritten.
	for range 3 {
		resp, err := c.Get("http://docker/_ping")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "OK" {
			t.Fatalf("ping: %q", b)
		}
		resp, err = c.Post("http://docker/v1.47/containers/create?name=a", "application/json", strings.NewReader(`{"HostConfig":{"Binds":["C:\\src:/app"]}}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := `{"got":{"HostConfig":{"Binds":["/mnt/host/c/src:/app"]}}}`; string(b) != want {
			t.Fatalf("create reached the engine as %s, want %s", b, want)
		}
	}

	resp, err := c.Post("http://docker/v1.47/containers/create", "application/json", strings.NewReader(`{"HostConfig":{"Binds":["/etc:/x"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || string(b) != `{"message":"bind mount source /etc is not shared with the Berth VM"}` {
		t.Fatalf("refusal: %d %s", resp.StatusCode, b)
	}
}

// An upgraded connection is raw both ways, and the client's half-close
// still reaches the engine while the engine's last words come back.
func TestUpgradeHalfClose(t *testing.T) {
	conn, err := net.Dial("unix", proxy(t, engine(t), func(b []byte) ([]byte, error) { return b, nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /containers/x/attach HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	io.WriteString(conn, "GET /not-http-anymore\r\n\r\nraw bytes")
	conn.(*net.UnixConn).CloseWrite()
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	if want := "echo:GET /not-http-anymore\r\n\r\nraw bytes bye"; string(rest) != want {
		t.Fatalf("stream %q, want %q", rest, want)
	}
}

// A header without end is refused once larger than net/http's servers
// allow, not buffered for ever; a large body is streamed on.
func TestHugeHeaderRefused(t *testing.T) {
	var up, out strings.Builder
	huge := "GET /_ping HTTP/1.1\r\nHost: d\r\nX: " + strings.Repeat("a", 2*http.DefaultMaxHeaderBytes) + "\r\n\r\n"
	err := requests(strings.NewReader(huge), &up, &lockedWriter{w: &out}, nil, nil, nil)
	if err == nil || !strings.Contains(out.String(), "400 Bad Request") || !strings.Contains(out.String(), "request header larger than") || up.Len() != 0 {
		t.Fatalf("%v; answered %.200q; forwarded %d bytes", err, out.String(), up.Len())
	}
	body := strings.Repeat("b", 3*http.DefaultMaxHeaderBytes)
	big := "POST /images/load HTTP/1.1\r\nHost: d\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	up.Reset()
	if err := requests(strings.NewReader(big+big), &up, &lockedWriter{w: &out}, nil, nil, nil); err != nil || up.Len() < 2*len(body) {
		t.Fatalf("large bodies: %v, forwarded %d bytes", err, up.Len())
	}
}
