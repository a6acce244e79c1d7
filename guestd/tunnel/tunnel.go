// Package tunnel lets the host open connections to ports on the guest's own
// loopback. The engine binds a port published on 127.0.0.1 or ::1 on the
// VM's loopback, which nothing outside the VM can reach, and the virtual
// network dials only TCP into the guest; so for those ports, and for UDP,
// the host's port forwarder asks guestd, over the guest API, to dial the
// loopback from inside (where the wildcard bindings are too), and joins
// the two.
// A request is an HTTP upgrade: POST /v1/dial?network=tcp|udp&addr=IP:PORT.
// UDP datagrams travel on the stream, each after its 2-byte big-endian
// length; one stream is one client's flow, so replies find their client.
package tunnel

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Path and Protocol identify the request on the guest API.
const (
	Path     = "/v1/dial"
	Protocol = "berth-dial"
)

// dialTimeout bounds the guest's dial of its own loopback; a refusal is
// immediate, so this only guards against a wedged stack.
const dialTimeout = 5 * time.Second

// CheckAddr accepts only loopback addresses: the tunnel reaches what the
// engine bound inside the VM, not the containers' networks.
func CheckAddr(network, addr string) error {
	if network != "tcp" && network != "udp" {
		return fmt.Errorf("network %q: want tcp or udp", network)
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if !ap.Addr().Unmap().IsLoopback() || ap.Port() == 0 {
		return fmt.Errorf("address %s: want a loopback address and a port", addr)
	}
	return nil
}

// Handler serves Path: it dials the loopback address asked for, answers
// 101 once connected (or 502 with the reason), and joins the two.
func Handler(log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != Protocol {
			writeError(w, http.StatusUpgradeRequired, fmt.Errorf("want Upgrade: %s", Protocol))
			return
		}
		network, addr := r.URL.Query().Get("network"), r.URL.Query().Get("addr")
		if err := CheckAddr(network, addr); err != nil {
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
		fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", Protocol)
		if err := rw.Flush(); err != nil {
			return
		}
		// rw.Reader holds what the client sent after the request, then
		// reads on from conn.
		client := &bufConn{Conn: conn, r: rw.Reader}
		if network == "udp" {
			joinDatagrams(client, target)
		} else {
			join(client, target)
		}
	}
}

type errorBody struct {
	Message string `json:"message"`
}

// writeError answers a dial that failed and closes the connection: the
// client's first bytes follow its request (see Dial), and must never be
// read as another request to the guest API.
func writeError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Connection", "close")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(errorBody{err.Error()})
}

// Dial asks the guest API on conn (a fresh connection to it) for a
// connection to addr in the guest. The result is a stream for "tcp"; for
// "udp" each Write sends one datagram and each Read returns one.
//
// Dial does not wait for the guest's answer: what the caller writes follows
// the request at once, and the first Read takes the answer, failing if the
// guest could not connect. That saves a round trip through the VM on every
// connection; a refused one looks to the client like a port that closes.
func Dial(ctx context.Context, conn net.Conn, network, addr string) (net.Conn, error) {
	if err := CheckAddr(network, addr); err != nil {
		conn.Close()
		return nil, fmt.Errorf("dial %s %s in the guest: %w", network, addr, err)
	}
	q := url.Values{"network": {network}, "addr": {addr}}
	req, err := http.NewRequest(http.MethodPost, "http://guest"+Path+"?"+q.Encode(), nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", Protocol)
	if d, ok := ctx.Deadline(); ok {
		conn.SetWriteDeadline(d)
	}
	err = req.Write(conn)
	conn.SetWriteDeadline(time.Time{})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("dial %s %s in the guest: %w", network, addr, ctxErr(ctx, err))
	}
	c := &answerConn{bufConn: bufConn{Conn: conn, r: bufio.NewReader(conn)}, req: req, what: network + " " + addr}
	if network == "udp" {
		return &datagramConn{Conn: c}, nil
	}
	return c, nil
}

// answerConn reads the guest's answer to the dial before the first byte
// of the stream.
type answerConn struct {
	bufConn
	req  *http.Request
	what string
	once sync.Once
	err  error
}

func (c *answerConn) Read(p []byte) (int, error) {
	c.once.Do(func() { c.err = c.answer() })
	if c.err != nil {
		return 0, c.err
	}
	return c.bufConn.Read(p)
}

func (c *answerConn) answer() error {
	resp, err := http.ReadResponse(c.r, c.req)
	if err != nil {
		return fmt.Errorf("dial %s in the guest: %w", c.what, err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var e errorBody
	if json.Unmarshal(b, &e) != nil || e.Message == "" {
		e.Message = strings.TrimSpace(string(b))
	}
	return fmt.Errorf("dial %s in the guest: %s: %s", c.what, resp.Status, e.Message)
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// bufConn reads first what a bufio.Reader has buffered of its connection.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// CloseWrite half-closes the connection where it can, so a client's EOF
// reaches the server while replies still flow back.
func (c *bufConn) CloseWrite() error { return closeWrite(c.Conn) }

func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// join copies both ways until both directions are done, passing each
// side's EOF on as a half-close.
func join(a, b net.Conn) {
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		closeWrite(dst)
	}
	wg.Go(func() { pipe(a, b) })
	pipe(b, a)
	wg.Wait()
}

// maxDatagram is the largest UDP payload; its length fits the 2-byte frame
// header.
const maxDatagram = 65535

// joinDatagrams carries framed datagrams from stream to the connected UDP
// socket sock and its replies back, until the stream ends.
func joinDatagrams(stream, sock net.Conn) {
	dc := &datagramConn{Conn: stream}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, maxDatagram)
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
	buf := make([]byte, maxDatagram)
	for {
		n, err := dc.Read(buf)
		if err != nil {
			break
		}
		sock.Write(buf[:n]) // a refused send is like a lost datagram
	}
	sock.Close()
	<-done
}

// datagramConn frames datagrams on a stream: Write sends one, Read returns
// one (truncated to the buffer, as a UDP socket would).
type datagramConn struct {
	net.Conn
	wmu sync.Mutex
	rmu sync.Mutex
	hdr [2]byte
}

func (c *datagramConn) Write(p []byte) (int, error) {
	if len(p) > maxDatagram {
		return 0, fmt.Errorf("datagram of %d bytes: more than %d", len(p), maxDatagram)
	}
	frame := make([]byte, 2+len(p))
	binary.BigEndian.PutUint16(frame, uint16(len(p)))
	copy(frame[2:], p)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.Conn.Write(frame); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *datagramConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if _, err := io.ReadFull(c.Conn, c.hdr[:]); err != nil {
		return 0, err
	}
	n := int(binary.BigEndian.Uint16(c.hdr[:]))
	got := min(n, len(p))
	if _, err := io.ReadFull(c.Conn, p[:got]); err != nil {
		return 0, unexpected(err)
	}
	if _, err := io.CopyN(io.Discard, c.Conn, int64(n-got)); err != nil {
		return 0, unexpected(err)
	}
	return got, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
