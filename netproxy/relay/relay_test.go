package relay

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An echo server that answers "bye" only after the client half-closes:
// that is how docker attach learns that stdin ended.
func echoUntilEOF(t *testing.T) net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				c.Write([]byte(strings.ToUpper(string(b)) + "bye\n"))
			}()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return l
}

func TestForwardPropagatesHalfClose(t *testing.T) {
	upstream := echoUntilEOF(t)
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		Forward(ctx, l, func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", upstream.Addr().String())
		}, Join, slog.Default())
		close(done)
	}()

	for i := 0; i < 3; i++ { // several connections through one listener
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("hello "))
		c.(*net.UnixConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil || got != "HELLO bye\n" {
			t.Fatalf("got %q, %v", got, err)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Forward did not stop")
	}
}

func TestForwardUnreachableUpstreamClosesClient(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	l, _ := net.Listen("unix", sock)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Forward(ctx, l, func(context.Context) (net.Conn, error) { return nil, io.ErrUnexpectedEOF }, Join, slog.New(slog.DiscardHandler))
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read %d, %v; want EOF", n, err)
	}
}
