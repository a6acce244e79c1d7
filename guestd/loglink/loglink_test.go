package loglink

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// What guestd logs before the host listens arrives first, in order, then
// the rest as it is written; after the host drops the link, guestd dials
// again and nothing it logged meanwhile is lost.
func TestLinkKeepsTheBootUntilTheHostListens(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	l := New(1 << 10)
	l.Write([]byte("early 1\n"))
	l.Write([]byte("early 2\n"))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Run(ctx, func() (io.WriteCloser, error) { return net.Dial("unix", sock) }, time.Millisecond)

	host, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	read := func(r *bufio.Reader, n int) []string {
		t.Helper()
		var lines []string
		for len(lines) < n {
			s, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v", lines, err)
			}
			lines = append(lines, strings.TrimSpace(s))
		}
		return lines
	}
	c, err := host.Accept()
	if err != nil {
		t.Fatal(err)
	}
	l.Write([]byte("late\n"))
	if got := read(bufio.NewReader(c), 3); strings.Join(got, ",") != "early 1,early 2,late" {
		t.Fatalf("the host read %q", got)
	}

	// The host's daemon restarts: guestd goes on logging, the link finds
	// itself down and dials again.
	c.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				l.Write([]byte("again\n"))
			}
		}
	}()
	c, err = host.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := read(bufio.NewReader(c), 1); got[0] != "again" {
		t.Fatalf("after the restart the host read %q", got)
	}
}

// Down, the link keeps only the latest bytes, and writes never fail.
func TestLinkKeepsTheLatest(t *testing.T) {
	l := New(8)
	for _, s := range []string{"0123", "4567", "89ab"} {
		if n, err := l.Write([]byte(s)); n != 4 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if string(l.buf) != "456789ab" {
		t.Fatalf("kept %q", l.buf)
	}
	ctx, cancel := context.WithCancel(context.Background())
	dials := 0
	done := make(chan struct{})
	go func() {
		l.Run(ctx, func() (io.WriteCloser, error) { dials++; return nil, errors.New("no host") }, time.Millisecond)
		close(done)
	}()
	time.Sleep(10 * time.Millisecond)
	cancel()
	<-done
	if dials == 0 || string(l.buf) != "456789ab" {
		t.Fatalf("%d dials, kept %q", dials, l.buf)
	}
}
