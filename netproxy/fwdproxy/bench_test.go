package fwdproxy

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"testing"
)

// BenchmarkThroughput sends 64 MiB per op to a sink, directly and through
// the proxy's CONNECT tunnel (direct upstream), side by side: the cost of
// the gateway hop the engine's pulls always take.
func BenchmarkThroughput(b *testing.B) {
	sink, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	go func() {
		for {
			c, err := sink.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Write([]byte{1}); c.Close() }()
		}
	}()
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	p := New(Config{Upstream: func(context.Context, *url.URL) (*url.URL, error) { return nil, nil }, Log: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Serve(ctx, pl) //nolint:errcheck // ends with ctx

	const size = 64 << 20
	buf := make([]byte, 128<<10)
	send := func(b *testing.B, c net.Conn) {
		for sent := 0; sent < size; sent += len(buf) {
			if _, err := c.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		c.(interface{ CloseWrite() error }).CloseWrite()
		io.ReadFull(c, make([]byte, 1)) // the sink has it all
		c.Close()
	}
	b.Run("direct", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			c, err := net.Dial("tcp", sink.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			send(b, c)
		}
	})
	b.Run("proxy", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			c, err := net.Dial("tcp", pl.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			io.WriteString(c, "CONNECT "+sink.Addr().String()+" HTTP/1.1\r\n\r\n")
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
			if err != nil || resp.StatusCode != 200 {
				b.Fatal(err, resp)
			}
			send(b, &tcpConn{c.(*net.TCPConn), br})
		}
	})
}

// tcpConn reads through the reader that read the CONNECT answer.
type tcpConn struct {
	*net.TCPConn
	r *bufio.Reader
}

func (c *tcpConn) Read(p []byte) (int, error) { return c.r.Read(p) }
