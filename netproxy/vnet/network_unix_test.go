//go:build unix

package vnet

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// socketPair returns both ends of an AF_UNIX socket pair of type typ.
func socketPair(t testing.TB, typ int) (vm, host net.Conn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, typ, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int, name string) net.Conn {
		f := os.NewFile(uintptr(fd), name)
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return conn(fds[0], "vm"), conn(fds[1], "host")
}

// arpRequest asks, as the guest, who has the address target.
func arpRequest(cfg Config, target netip.Addr) []byte {
	mac, _ := net.ParseMAC(cfg.GuestMAC)
	f := append(bytes.Repeat([]byte{0xff}, 6), mac...)
	f = append(f, 0x08, 0x06)                // ARP
	f = append(f, 0, 1, 0x08, 0, 6, 4, 0, 1) // Ethernet/IPv4, request
	f = append(f, mac...)                    // sender
	f = append(f, cfg.Guest.AsSlice()...)    //
	f = append(f, make([]byte, 6)...)        // target
	return append(f, target.AsSlice()...)    //
}

// arpReplyFor returns the address an ARP reply in frame is about, if it is
// one.
func arpReplyFor(frame []byte) (netip.Addr, bool) {
	if len(frame) < 42 || frame[12] != 0x08 || frame[13] != 0x06 || binary.BigEndian.Uint16(frame[20:22]) != 2 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(frame[28:32])), true
}

// isARPReply reports whether frame answers arpRequest for the gateway.
func isARPReply(frame []byte, cfg Config) bool {
	a, ok := arpReplyFor(frame)
	return ok && a == cfg.Gateway
}

func newTestNetwork(t *testing.T) *Network {
	n, err := New(DefaultConfig(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The gateway answers ARP through a datagram link, one frame per datagram,
// as a vz VM's NIC sends them.
func TestServeDatagramCarriesFrames(t *testing.T) {
	n := newTestNetwork(t)
	vm, host := socketPair(t, unix.SOCK_DGRAM)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.ServeDatagram(ctx, host) }()
	if _, err := vm.Write(arpRequest(n.cfg, n.cfg.Gateway)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	vm.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		k, err := vm.Read(buf)
		if err != nil {
			t.Fatalf("no ARP reply: %v", err)
		}
		if isARPReply(buf[:k], n.cfg) {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ServeDatagram after cancel: %v", err)
	}
}

// The same over a stream with 4-byte big-endian lengths, as QEMU and
// guestd's tap bridge frame them.
func TestServeStreamCarriesFrames(t *testing.T) {
	n := newTestNetwork(t)
	vm, host := socketPair(t, unix.SOCK_STREAM)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.ServeStream(ctx, host)
	req := arpRequest(n.cfg, n.cfg.Gateway)
	if _, err := vm.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(req))), req...)); err != nil {
		t.Fatal(err)
	}
	vm.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(vm, hdr[:]); err != nil {
			t.Fatalf("no ARP reply: %v", err)
		}
		frame := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		if _, err := io.ReadFull(vm, frame); err != nil {
			t.Fatal(err)
		}
		if isARPReply(frame, n.cfg) {
			return
		}
	}
}
