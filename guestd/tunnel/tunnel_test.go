package tunnel

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// guestAPI serves Handler like guestd does and returns a dialer for it.
func guestAPI(t *testing.T) func() net.Conn {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+Path, Handler(slog.New(slog.DiscardHandler)))
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
	c, err := Dial(context.Background(), api(), "tcp", target.Addr().String())
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
	c, err := Dial(context.Background(), api(), "udp", pc.LocalAddr().String())
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
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := closed.Addr().String()
	closed.Close()
	for _, tc := range []struct{ network, addr, want string }{
		{"tcp", addr, "502 Bad Gateway"},
		{"tcp", "192.0.2.1:80", "want a loopback address"},
		{"sctp", "127.0.0.1:80", "want tcp or udp"},
	} {
		if _, err := Dial(context.Background(), api(), tc.network, tc.addr); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Dial(%s %s) = %v, want %q", tc.network, tc.addr, err, tc.want)
		}
	}
	// The server refuses what the client would not send.
	c := api()
	defer c.Close()
	c.Write([]byte("POST /v1/dial?network=tcp&addr=10.0.0.1:80 HTTP/1.1\r\nHost: g\r\nConnection: Upgrade\r\nUpgrade: " + Protocol + "\r\n\r\n"))
	b := make([]byte, 200)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := c.Read(b)
	if !strings.HasPrefix(string(b[:n]), "HTTP/1.1 400") || !strings.Contains(string(b[:n]), "loopback") {
		t.Fatalf("server answer to a non-loopback address: %q", b[:n])
	}
}

func TestDialHonoursContext(t *testing.T) {
	t.Parallel()
	// A guest API that never answers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := Dial(ctx, conn, "tcp", "127.0.0.1:80"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial with an expired context = %v", err)
	}
}
