package portfwd

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// maxDatagram fits any UDP payload.
const maxDatagram = 64 << 10

// flowQueue bounds the datagrams a client may send while its flow is being
// opened; more are dropped, as a congested network would.
const flowQueue = 64

// udpFlow is one host client's UDP conversation with the guest port.
type udpFlow struct {
	in chan []byte // datagrams from the client, for the guest
}

// serveUDP relays datagrams between host clients of pc and the guest port.
// Each client address gets its own flow (its own socket in the guest), so
// replies find their way back, until it has been idle for cfg.UDPIdle.
// Flows open without holding up other clients' datagrams.
func (f *Forwarder) serveUDP(ctx context.Context, pc net.PacketConn, guest string, log *slog.Logger) {
	ctx, cancel := context.WithCancel(ctx)
	var (
		mu    sync.Mutex
		flows = map[string]*udpFlow{}
		wg    sync.WaitGroup
	)
	defer wg.Wait()
	defer cancel()
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
		if u == nil {
			u = &udpFlow{in: make(chan []byte, flowQueue)}
			flows[id] = u
			wg.Go(func() {
				f.runFlow(ctx, pc, u, from, guest, log)
				mu.Lock()
				delete(flows, id)
				mu.Unlock()
			})
		}
		mu.Unlock()
		select {
		case u.in <- append([]byte(nil), buf[:n]...):
		default:
		}
	}
}

// runFlow opens the client's flow into the guest and relays both ways until
// it has been idle for cfg.UDPIdle, fails, or ctx ends. A datagram that
// arrives as the flow ends is lost, as UDP allows.
func (f *Forwarder) runFlow(ctx context.Context, pc net.PacketConn, u *udpFlow, client net.Addr, guest string, log *slog.Logger) {
	conn, err := f.cfg.Guest(ctx, "udp", guest)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("cannot reach the container's port in the guest", "err", err)
		}
		return
	}
	// Closing is what ends a blocked Read: on idleness, or with ctx.
	idle := time.AfterFunc(f.cfg.UDPIdle, func() { conn.Close() })
	defer idle.Stop()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	done := make(chan struct{})
	defer func() {
		conn.Close()
		<-done
	}()
	go func() {
		defer close(done)
		buf := make([]byte, maxDatagram)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			idle.Reset(f.cfg.UDPIdle)
			if _, err := pc.WriteTo(buf[:n], client); errors.Is(err, net.ErrClosed) {
				return
			}
		}
	}()
	for {
		select {
		case d := <-u.in:
			idle.Reset(f.cfg.UDPIdle)
			if _, err := conn.Write(d); err != nil {
				log.Debug("udp send to the guest failed", "err", err)
				return
			}
		case <-done:
			return
		}
	}
}
