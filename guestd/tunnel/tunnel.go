// Package tunnel is guestd's side of the dial tunnel (see
// protocol.DialPath): it lets the host open connections to ports on the
// guest's own loopback. The engine binds a port published on 127.0.0.1 or
// ::1 on the VM's loopback, which nothing outside the VM can reach, and the
// virtual network dials only TCP into the guest; so for those ports, and
// for UDP, the host's port forwarder asks guestd, over the guest API, to
// dial the loopback from inside (where the wildcard bindings are too), and
// joins the two.
package tunnel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/netproxy/relay"
)

// dialTimeout bounds the guest's dial of its own loopback; a refusal is
// immediate, so this only guards against a wedged stack.
const dialTimeout = 5 * time.Second

// Handler serves protocol.DialPath: it dials the loopback address asked
// for, answers 101 once connected (or 502 with the reason), and joins the
// two.
func Handler(log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != protocol.DialProtocol {
			writeError(w, http.StatusUpgradeRequired, fmt.Errorf("want Upgrade: %s", protocol.DialProtocol))
			return
		}
		network, addr := r.URL.Query().Get("network"), r.URL.Query().Get("addr")
		if err := protocol.CheckDialAddr(network, addr); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		d := net.Dialer{Timeout: dialTimeout}
		target, err := d.DialContext(r.Context(), network, addr)
		if err != nil {
			writeError(w, http.StatusBadGateway, err)
			return
		}
		defer target.Close()
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			log.Warn("tunnel: hijack failed", "err", err)
			return
		}
		defer conn.Close()
		fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", protocol.DialProtocol)
		if err := rw.Flush(); err != nil {
			return
		}
		// rw.Reader holds what the client sent after the request, then
		// reads on from conn.
		client := &protocol.UpgradedConn{Conn: conn, R: rw.Reader}
		if network == "udp" {
			joinDatagrams(client, target)
		} else {
			// A hijacked connection outlives the request's context:
			// the two ends' own closes end the join.
			relay.Join(context.Background(), client, target)
		}
	}
}

// writeError answers a dial that failed and closes the connection: the
// client's first bytes follow its request (see Dial), and must never be
// read as another request to the guest API.
func writeError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Connection", "close")
	protocol.WriteError(w, code, err)
}

// joinDatagrams carries framed datagrams from stream to the connected UDP
// socket sock and its replies back, until the stream ends.
func joinDatagrams(stream, sock net.Conn) {
	dc := protocol.NewDatagramConn(stream)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, protocol.MaxDatagram)
		for {
			n, err := sock.Read(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				// A refusal (ICMP port unreachable from an earlier send)
				// ends nothing: the server may come up.
				continue
			}
			if _, err := dc.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, protocol.MaxDatagram)
	for {
		n, err := dc.Read(buf)
		if err != nil {
			break
		}
		sock.Write(buf[:n]) //nolint:errcheck // a refused send is like a lost datagram
	}
	sock.Close()
	<-done
}
