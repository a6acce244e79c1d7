package tunnel

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthvm/berth/guestd/protocol"
)

// guestAPI serves Handler like guestd does and returns a dialer for it.
// Any other request fails the test: the client's bytes must never reach
// the rest of the API.
func guestAPI(t *testing.T) func() net.Conn {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+protocol.DialPath, Handler(slog.New(slog.DiscardHandler)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the guest API got %s %s", r.Method, r.URL)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return func() net.Conn {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

func TestTCPHalfCloseBothWays(t *testing.T) {
	t.Parallel()
	api := guestAPI(t)
	target, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer target.Close()
	got := make(chan string, 1)
	go func() {
		c, err := target.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("hello"))
		c.(*net.TCPConn).CloseWrite()
		b, _ := io.ReadAll(c)
		got <- string(b)
	}()
	c, err := protocol.Dial(context.Background(), api(), "tcp", target.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(c); err != nil || string(b) != "hello" {
		t.Fatalf("read %q, %v", b, err)
	}
	c.Write([]byte("late reply"))
	c.(interface{ CloseWrite() error }).CloseWrite()
	select {
	case s := <-got:
		if s != "late reply" {
			t.Fatalf("target read %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the half-close did not reach the target")
	}
}

func TestUDPKeepsDatagrams(t *testing.T) {
	t.Parallel()
	api := guestAPI(t)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 70000)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo([]byte(strings.ToUpper(string(buf[:n]))), from)
		}
	}()
	c, err := protocol.Dial(context.Background(), api(), "udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	big := strings.Repeat("x", 60000)
	for _, msg := range []string{"one", "", big, "two"} {
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 65535)
	for _, want := range []string{"ONE", "", strings.ToUpper(big), "TWO"} {
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("read %d bytes (%.10q…), %v; want %d bytes", n, buf[:n], err, len(want))
		}
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	api := guestAPI(t)
	for _, tc := range []struct{ network, addr, want string }{
		{"tcp", "192.0.2.1:80", "want a loopback address"},
		{"sctp", "127.0.0.1:80", "want tcp or udp"},
	} {
		if _, err := protocol.Dial(context.Background(), api(), tc.network, tc.addr); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Dial(%s %s) = %v, want %q", tc.network, tc.addr, err, tc.want)
		}
	}
	// Nothing listens: the first Read says why, after what was written
	// went nowhere.
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := closed.Addr().String()
	closed.Close()
	c, err := protocol.Dial(context.Background(), api(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("POST /v1/shutdown HTTP/1.1\r\nHost: g\r\n\r\n"))
	if _, err := c.Read(make([]byte, 10)); err == nil || !strings.Contains(err.Error(), "502 Bad Gateway") || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Read from a refused dial: %v", err)
	}
	// The guest closed the connection after its answer: the bytes sent
	// along were not taken for a request. Closing with those bytes unread
	// may reset the connection instead of ending it, depending on whether
	// they arrived before the close: either is an end.
	if rest, err := io.ReadAll(c.(*protocol.DialConn).R); err != nil && !errors.Is(err, syscall.ECONNRESET) || len(rest) > 0 {
		t.Fatalf("after the refusal: %q, %v", rest, err)
	}
	// The server refuses what the client would not send.
	raw := api()
	defer raw.Close()
	raw.Write([]byte("POST /v1/dial?network=tcp&addr=10.0.0.1:80 HTTP/1.1\r\nHost: g\r\nConnection: Upgrade\r\nUpgrade: " + protocol.DialProtocol + "\r\n\r\n"))
	b := make([]byte, 200)
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := raw.Read(b)
	if !strings.HasPrefix(string(b[:n]), "HTTP/1.1 400") || !strings.Contains(string(b[:n]), "loopback") {
		t.Fatalf("server answer to a non-loopback address: %q", b[:n])
	}
}

// What the client sends before the guest's answer reaches the target: the
// request and the first bytes travel together.
func TestPipelinedFirstBytes(t *testing.T) {
	t.Parallel()
	api := guestAPI(t)
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	go func() {
		c, err := target.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	conn := api()
	c, err := protocol.Dial(context.Background(), conn, "tcp", target.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 5)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "first" {
		t.Fatalf("echo %q, %v", b, err)
	}
}
