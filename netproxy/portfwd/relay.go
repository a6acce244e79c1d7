package portfwd

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// maxDatagram fits any UDP payload.
const maxDatagram = 64 << 10

// udpFlow is one host client's UDP conversation with the guest port.
type udpFlow struct {
	conn net.Conn     // connected UDP socket in the guest
	last atomic.Int64 // unix nanoseconds of the last datagram either way
}

func (u *udpFlow) touch() { u.last.Store(time.Now().UnixNano()) }

// serveUDP relays datagrams between host clients of pc and guest. Each
// client address gets its own guest socket, so replies find their way back,
// until it has been idle for cfg.UDPIdle.
func (f *Forwarder) serveUDP(ctx context.Context, pc net.PacketConn, guest string, log *slog.Logger) {
	var (
		mu    sync.Mutex
		flows = map[string]*udpFlow{}
		wg    sync.WaitGroup
	)
	defer func() {
		mu.Lock()
		for _, u := range flows {
			u.conn.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			log.Debug("udp read failed", "err", err)
			continue
		}
		id := from.String()
		mu.Lock()
		u := flows[id]
		mu.Unlock()
		if u == nil {
			conn, err := f.cfg.Guest(ctx, "udp", guest)
			if err != nil {
				log.Warn("cannot reach the container's port in the guest", "err", err)
				continue
			}
			u = &udpFlow{conn: conn}
			u.touch()
			mu.Lock()
			flows[id] = u
			mu.Unlock()
			wg.Go(func() {
				f.udpReplies(pc, u, from)
				mu.Lock()
				delete(flows, id)
				mu.Unlock()
				u.conn.Close()
			})
		}
		u.touch()
		if _, err := u.conn.Write(buf[:n]); err != nil {
			log.Debug("udp send to the guest failed", "err", err)
		}
	}
}

// udpReplies sends what the guest answers back to the client, until the
// flow has been idle for cfg.UDPIdle or its socket fails or is closed.
func (f *Forwarder) udpReplies(pc net.PacketConn, u *udpFlow, client net.Addr) {
	buf := make([]byte, maxDatagram)
	for {
		// Traffic from the client extends the flow too; the deadline is
		// recomputed from the latest datagram either way.
		u.conn.SetReadDeadline(time.Unix(0, u.last.Load()).Add(f.cfg.UDPIdle))
		n, err := u.conn.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && time.Since(time.Unix(0, u.last.Load())) < f.cfg.UDPIdle {
				continue
			}
			return
		}
		u.touch()
		if _, err := pc.WriteTo(buf[:n], client); errors.Is(err, net.ErrClosed) {
			return
		}
	}
}
