package protocol

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"github.com/berthvm/berth/netproxy/relay"
)

// The dial tunnel lets the host open connections to ports on the guest's
// own loopback (and UDP ports), which the virtual network cannot reach:
// POST DialPath?network=tcp|udp&addr=IP:PORT, an HTTP upgrade
// (DialProtocol) to the raw stream. UDP datagrams travel on the stream,
// each after its 2-byte big-endian length; one stream is one client's flow,
// so replies find their client.
const (
	DialPath     = "/v1/dial"
	DialProtocol = "berth-dial"
)

// CheckDialAddr accepts only loopback addresses: the tunnel reaches what the
// engine bound inside the VM, not the containers' networks.
func CheckDialAddr(network, addr string) error {
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

// Dial asks the guest API on conn (a fresh connection to it) for a
// connection to addr in the guest. The result is a stream for "tcp"; for
// "udp" each Write sends one datagram and each Read returns one.
//
// Dial does not wait for the guest's answer: what the caller writes follows
// the request at once, and the first Read takes the answer, failing if the
// guest could not connect. That saves a round trip through the VM on every
// connection; a refused one looks to the client like a port that closes.
func Dial(ctx context.Context, conn net.Conn, network, addr string) (net.Conn, error) {
	if err := CheckDialAddr(network, addr); err != nil {
		conn.Close()
		return nil, fmt.Errorf("dial %s %s in the guest: %w", network, addr, err)
	}
	q := url.Values{"network": {network}, "addr": {addr}}
	req, err := http.NewRequest(http.MethodPost, "http://guest"+DialPath+"?"+q.Encode(), nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", DialProtocol)
	if d, ok := ctx.Deadline(); ok {
		conn.SetWriteDeadline(d)
	}
	err = req.Write(conn)
	conn.SetWriteDeadline(time.Time{})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("dial %s %s in the guest: %w", network, addr, ctxErr(ctx, err))
	}
	c := &DialConn{UpgradedConn: UpgradedConn{Conn: conn, R: bufio.NewReader(conn)}, req: req, what: network + " " + addr}
	if network == "udp" {
		return NewDatagramConn(c), nil
	}
	return c, nil
}

// DialConn is the TCP stream Dial returns: it reads the guest's answer to
// the dial before the first byte of the stream.
type DialConn struct {
	UpgradedConn
	req  *http.Request
	what string
	once sync.Once
	err  error
}

func (c *DialConn) Read(p []byte) (int, error) {
	c.once.Do(func() { c.err = c.answer() })
	if c.err != nil {
		return 0, c.err
	}
	return c.UpgradedConn.Read(p)
}

func (c *DialConn) answer() error {
	resp, err := http.ReadResponse(c.R, c.req)
	if err != nil {
		return fmt.Errorf("dial %s in the guest: %w", c.what, err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return nil
	}
	defer resp.Body.Close()
	return fmt.Errorf("dial %s in the guest: %s: %s", c.what, resp.Status, ErrorMessage(resp))
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// UpgradedConn is a connection after an HTTP upgrade: it reads first what
// R, the reader of the request or response, has buffered of it.
type UpgradedConn struct {
	net.Conn
	R *bufio.Reader
}

func (c *UpgradedConn) Read(p []byte) (int, error) { return c.R.Read(p) }

// CloseWrite half-closes the connection where it can, so a client's EOF
// reaches the server while replies still flow back.
func (c *UpgradedConn) CloseWrite() error { return relay.CloseWrite(c.Conn) }

// MaxDatagram is the largest UDP payload; its length fits the 2-byte frame
// header.
const MaxDatagram = 65535

// NewDatagramConn frames datagrams on stream: Write sends one, Read returns
// one (truncated to the buffer, as a UDP socket would).
func NewDatagramConn(stream net.Conn) net.Conn { return &datagramConn{Conn: stream} }

// datagramConn is the tunnel's datagram framing; see NewDatagramConn.
type datagramConn struct {
	net.Conn
	wmu sync.Mutex
	rmu sync.Mutex
	hdr [2]byte
}

func (c *datagramConn) Write(p []byte) (int, error) {
	if len(p) > MaxDatagram {
		return 0, fmt.Errorf("datagram of %d bytes: more than %d", len(p), MaxDatagram)
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
