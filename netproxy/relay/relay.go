// Package relay carries bytes between two connections: the accept loop of a
// forwarded port, a two-way copy that passes each side's EOF on as a
// half-close, and the half-close itself. It is the standard library's only,
// so the daemon, the CLI and guestd share it.
package relay

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// JoinFunc carries a client's connection to its upstream until both are done.
type JoinFunc func(ctx context.Context, client, up net.Conn)

// Forward accepts connections on l and joins each to a new connection from
// dial, until ctx ends or l is closed. A failed accept that is not the end
// (out of file descriptors, say) is retried after a pause, not fatal.
func Forward(ctx context.Context, l net.Listener, dial func(context.Context) (net.Conn, error), join JoinFunc, log *slog.Logger) {
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			log.Warn("accept failed", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		wg.Go(func() {
			defer c.Close()
			up, err := dial(ctx)
			if err != nil {
				log.Warn("cannot reach the guest", "err", err)
				return
			}
			defer up.Close()
			join(ctx, c, up)
		})
	}
}

// CloseWrite half-closes c where it can (TCP, unix, gvisor TCP), so the
// peer sees EOF while replies still flow back; other connections are closed.
func CloseWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// Join copies between a and b in both directions, byte for byte, until both
// directions are done or ctx ends. Byte-level copying keeps HTTP upgrades
// (docker attach, exec) and streams (logs -f, events) working without
// understanding them. When one side stops sending, the other is half-closed so
// that a client's EOF reaches the server (docker attach relies on it).
func Join(ctx context.Context, a, b net.Conn) {
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		buf := copyBuffers.Get().(*[]byte)
		// Plain Reader and Writer, so that CopyBuffer uses buf rather than
		// a net.TCPConn's ReadFrom or WriteTo with 32 KiB of its own.
		io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, *buf)
		copyBuffers.Put(buf)
		CloseWrite(dst) //nolint:errcheck // a failed half-close: the other copy sees the connection gone
		done <- struct{}{}
	}
	go pipe(a, b)
	go pipe(b, a)
	for i := 0; i < 2; i++ {
		select {
		case <-done:
		case <-ctx.Done():
			// Reads do not notice ctx: closing does.
			a.Close()
			b.Close()
			<-done
		}
	}
}

// copyBuffers hold Join's copies: with 128 KiB a transfer takes a quarter
// of the reads and writes io.Copy's 32 KiB does (natively, an upload through
// the virtual network ran about 40% faster; 256 KiB gained nothing more).
// An open connection holds two while it lasts. The guest's end is gvisor's
// TCP, so there was no splice to lose.
var copyBuffers = sync.Pool{New: func() any {
	b := make([]byte, 128<<10)
	return &b
}}
