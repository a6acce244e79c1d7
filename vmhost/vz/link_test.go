package vz

import (
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
)

// fullConn behaves as a macOS datagram socket whose receiver's buffer is
// full: each Write fails with ENOBUFS (wrapped as package net does) until
// the receiver has drained, after the given number of tries, or the
// socket is closed.
type fullConn struct {
	net.Conn // nil: only Write and Close are used
	mu       sync.Mutex
	full     int // tries left that find the buffer full; <0: always
	closed   bool
	tries    int
	sent     [][]byte
	onTry    func(try int)
}

func (c *fullConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.tries++
	try := c.tries
	c.mu.Unlock()
	if c.onTry != nil {
		c.onTry(try)
	}
	c.mu.Lock()
	full, closed := c.full, c.closed
	if full > 0 {
		c.full--
	}
	c.mu.Unlock()
	switch {
	case closed:
		return 0, &net.OpError{Op: "write", Net: "unixgram", Err: net.ErrClosed}
	case full != 0:
		return 0, &net.OpError{Op: "write", Net: "unixgram", Err: os.NewSyscallError("write", syscall.ENOBUFS)}
	}
	c.mu.Lock()
	c.sent = append(c.sent, append([]byte(nil), b...))
	c.mu.Unlock()
	return len(b), nil
}

func (c *fullConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

func TestFrameConnRetriesENOBUFS(t *testing.T) {
	c := &fullConn{full: 3}
	n, err := frameConn{c}.Write([]byte("frame"))
	if err != nil || n != 5 || c.tries != 4 || len(c.sent) != 1 {
		t.Fatalf("n=%d err=%v after %d tries, %d frames sent; want the frame sent on the 4th try", n, err, c.tries, len(c.sent))
	}
}

func TestFrameConnStopsRetryingWhenClosed(t *testing.T) {
	c := &fullConn{full: -1}
	c.onTry = func(try int) {
		if try == 5 { // the VM went down: the backend closes the link
			c.Close()
		}
	}
	fc := frameConn{c}
	_, err := fc.Write([]byte("frame"))
	if !errors.Is(err, net.ErrClosed) || c.tries != 5 {
		t.Fatalf("err = %v after %d tries, want net.ErrClosed after 5", err, c.tries)
	}
}

func TestFrameConnReturnsOtherErrorsAtOnce(t *testing.T) {
	c := &fullConn{}
	c.Close()
	if _, err := (frameConn{c}).Write([]byte("frame")); !errors.Is(err, net.ErrClosed) || c.tries != 1 {
		t.Fatalf("err = %v after %d tries", err, c.tries)
	}
}
