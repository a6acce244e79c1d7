package vz

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// enobufsPause is how long a frame waits before it is sent again when the
// VM's receive buffer is full. Lima measured such retries as rare (tens
// in tens of millions of frames) and ending after one or two tries.
const enobufsPause = 100 * time.Microsecond

// frameConn is the host's end of the NIC's datagram link, as the virtual
// network writes to it. On macOS a datagram to a full unix socket fails
// with ENOBUFS instead of blocking; retried at once, in a loop, with the
// link's lock held (as gvisor-tap-vsock's switch did), a VM that stopped
// reading would spin the whole virtual network. frameConn retries after a pause
// instead, until the frame goes or the link is closed (which the backend
// does when the VM goes down).
type frameConn struct{ net.Conn }

func (c frameConn) Write(b []byte) (int, error) {
	for {
		n, err := c.Conn.Write(b)
		if !errors.Is(err, syscall.ENOBUFS) {
			return n, err
		}
		time.Sleep(enobufsPause)
	}
}
