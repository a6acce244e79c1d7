//go:build linux

// Package tapbridge is the guest's NIC where the hypervisor gives none that
// reaches the host's virtual network (Hyper-V): a tap device whose Ethernet
// frames guestd carries over a stream to the host, each after its 4-byte
// big-endian length, as QEMU's stream netdev frames them, so the host
// attaches it like any other VM (netproxy's ServeStream).
package tapbridge

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// maxFrame bounds a frame on the link: a 64 KiB segment with its Ethernet
// header. A longer length means the stream lost its framing.
const maxFrame = 65536 + 14

// OpenTap creates (or opens) the tap device name, without packet-info
// headers: each read is one Ethernet frame, each write sends one.
func OpenTap(name string) (*os.File, error) {
	// Non-blocking, so the runtime's poller serves it and Close interrupts
	// a pending read.
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun (is the tun module loaded?): %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("create tap %q: %w", name, err)
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun:"+name), nil
}

// Tap is the device side: an *os.File from OpenTap.
type Tap interface {
	io.ReadWriter
	SetReadDeadline(time.Time) error
}

// Pump carries frames between tap and link until either fails or ctx ends.
// It closes link and returns once both directions have stopped; the tap
// stays, for the next link.
func Pump(ctx context.Context, tap Tap, link io.ReadWriteCloser) error {
	stop := context.AfterFunc(ctx, func() { link.Close() })
	defer stop()
	errc := make(chan error, 2)
	go func() { errc <- tapToLink(tap, link) }()
	go func() { errc <- linkToTap(link, tap) }()
	err := <-errc
	// End the other direction: its link I/O fails on the closed link, its
	// tap read at the deadline.
	link.Close()
	tap.SetReadDeadline(time.Now())  //nolint:errcheck // ending a read that the closed link ends too
	<-errc                           //nolint:errcheck // the first direction's error is the one returned
	tap.SetReadDeadline(time.Time{}) //nolint:errcheck // ending a read that the closed link ends too
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func tapToLink(tap io.Reader, link io.Writer) error {
	buf := make([]byte, 4+maxFrame)
	for {
		n, err := tap.Read(buf[4:])
		if err != nil {
			return fmt.Errorf("read tap: %w", err)
		}
		binary.BigEndian.PutUint32(buf, uint32(n))
		if _, err := link.Write(buf[:4+n]); err != nil {
			return fmt.Errorf("send frame to the host: %w", err)
		}
	}
}

func linkToTap(link io.Reader, tap io.Writer) error {
	buf := make([]byte, maxFrame)
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(link, hdr[:]); err != nil {
			return fmt.Errorf("receive frame from the host: %w", err)
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > maxFrame {
			return fmt.Errorf("receive frame from the host: length %d is past %d: the link lost its framing", n, maxFrame)
		}
		if _, err := io.ReadFull(link, buf[:n]); err != nil {
			return fmt.Errorf("receive frame from the host: %w", err)
		}
		// A frame the kernel refuses (too long for the MTU, say) is lost
		// as on a wire, not the end of the link.
		if _, err := tap.Write(buf[:n]); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("write tap: %w", err)
		}
	}
}

// Serve keeps tap linked to the host: it dials, pumps until the link
// drops (the host's daemon restarted, say), and dials again, until ctx ends.
func Serve(ctx context.Context, tap Tap, dial func() (io.ReadWriteCloser, error), log *slog.Logger) {
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		link, err := dial()
		if err != nil {
			log.Debug("host network link not up yet", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, 2*time.Second)
			continue
		}
		wait = 100 * time.Millisecond
		log.Info("network link to the host up")
		if err := Pump(ctx, tap, link); err != nil {
			log.Warn("network link to the host dropped; reconnecting", "err", err)
		}
	}
}
