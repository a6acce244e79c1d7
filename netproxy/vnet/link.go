package vnet

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// maxFrame is the largest Ethernet frame a VM may send: the largest MTU
// guestd accepts (65,520) and its header fit in one of gvisor's pooled
// buffers, so a frame is read into the buffer the stack then owns.
const maxFrame = buffer.MaxChunkSize

// framing says how frames are delimited on a VM connection.
type framing int

const (
	// streamFraming puts a 4-byte big-endian length before each frame
	// (QEMU's stream netdev, guestd's tap bridge).
	streamFraming framing = iota
	// datagramFraming sends one frame per datagram (vz's file-handle
	// attachment).
	datagramFraming
)

// link is the gateway's NIC in the virtual network, wired to one VM
// connection at a time. It replaces gvisor-tap-vsock's switch for a network
// with a single VM: frames go out with one vectored write straight from the
// stack's buffers, and come in read into buffers from gvisor's pool, so a
// transfer allocates nothing per frame (the switch copied each frame twice
// into new 64 KiB slices, and collecting them was a third of the daemon's
// CPU during a transfer).
type link struct {
	mtu uint32
	mac tcpip.LinkAddress
	// own are the addresses the gateway may answer ARP for: its own and
	// its virtual ones. The NIC is promiscuous (it terminates every
	// connection the VM makes), so the stack would claim any address.
	own map[tcpip.Address]bool

	// dispatcher is the stack's, nil once the NIC is removed (the stack
	// destroyed) while a VM connection may still deliver.
	dispatcher atomic.Pointer[stack.NetworkDispatcher]

	mu   sync.Mutex // one frame at a time on conn
	conn net.Conn   // nil while no VM is attached
	fr   framing
	hdr  [4]byte
	iov  [][]byte
	dgm  []byte // a datagram frame assembled, when the framing needs one write
}

func newLink(mtu uint32, mac tcpip.LinkAddress, own []tcpip.Address) *link {
	l := &link{mtu: mtu, mac: mac, own: map[tcpip.Address]bool{}}
	for _, a := range own {
		l.own[a] = true
	}
	return l
}

// serve attaches conn as the VM's link and delivers its frames to the stack
// until conn fails or ctx ends. Another VM connection replaces this one.
func (l *link) serve(ctx context.Context, conn net.Conn, fr framing) error {
	l.mu.Lock()
	l.conn, l.fr = conn, fr
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		if l.conn == conn {
			l.conn = nil
		}
		l.mu.Unlock()
	}()
	if fr == datagramFraming {
		return l.readDatagrams(ctx, conn)
	}
	return l.readStream(ctx, conn)
}

func (l *link) readStream(ctx context.Context, conn net.Conn) error {
	r := bufio.NewReaderSize(conn, 4*maxFrame)
	var hdr [4]byte
	for ctx.Err() == nil {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return fmt.Errorf("read frame length: %w", err)
		}
		n := int(binary.BigEndian.Uint32(hdr[:]))
		if n > maxFrame {
			// Lengths this large mean the stream is out of step (or the
			// guest's MTU is beyond what the link carries): nothing after
			// can be trusted.
			return fmt.Errorf("frame of %d bytes, more than the link's %d", n, maxFrame)
		}
		v := buffer.NewViewSize(n)
		if _, err := io.ReadFull(r, v.AsSlice()); err != nil {
			v.Release()
			return fmt.Errorf("read frame: %w", err)
		}
		l.deliver(v)
	}
	return nil
}

func (l *link) readDatagrams(ctx context.Context, conn net.Conn) error {
	for ctx.Err() == nil {
		v := buffer.NewViewSize(maxFrame)
		n, err := conn.Read(v.AsSlice())
		if err != nil {
			v.Release()
			return fmt.Errorf("read frame: %w", err)
		}
		v.CapLength(n)
		l.deliver(v)
	}
	return nil
}

// deliver hands a frame addressed to the gateway (or broadcast) to the
// stack, which then owns v. With one VM there is no other port to switch
// frames to.
func (l *link) deliver(v *buffer.View) {
	eth := header.Ethernet(v.AsSlice())
	if len(eth) < header.EthernetMinimumSize {
		v.Release()
		return
	}
	if dst := eth.DestinationAddress(); dst != l.mac && dst != header.EthernetBroadcastAddress {
		v.Release()
		return
	}
	d := l.dispatcher.Load()
	if d == nil {
		v.Release()
		return
	}
	typ := eth.Type()
	v.TrimFront(header.EthernetMinimumSize)
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithView(v)})
	(*d).DeliverNetworkPacket(typ, pkt)
	pkt.DecRef()
}

// WritePackets sends the stack's frames to the VM. Without a VM they are
// dropped, as a cable-less NIC would.
func (l *link) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	n := 0
	for _, pkt := range pkts.AsSlice() {
		if err := l.writePacket(pkt); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (l *link) writePacket(pkt *stack.PacketBuffer) tcpip.Error {
	src := l.mac
	if r := pkt.EgressRoute; r.LocalLinkAddress != "" {
		src = r.LocalLinkAddress
	}
	eth := header.Ethernet(pkt.LinkHeader().Push(header.EthernetMinimumSize))
	eth.Encode(&header.EthernetFields{Type: pkt.NetworkProtocolNumber, SrcAddr: src, DstAddr: pkt.EgressRoute.RemoteLinkAddress})
	if arp := header.ARP(pkt.NetworkHeader().Slice()); arp.IsValid() && arp.Op() == header.ARPReply &&
		!l.own[tcpip.AddrFromSlice(arp.ProtocolAddressSender())] {
		return nil
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return nil
	}
	// A full datagram socket on macOS fails with ENOBUFS instead of
	// blocking: the vz backend's connection waits and retries that itself.
	if err := l.write(pkt); err != nil {
		// The VM's end is gone: closing ends serve, which says why.
		l.conn.Close()
		l.conn = nil
	}
	return nil
}

// write sends one frame; l.mu is held.
func (l *link) write(pkt *stack.PacketBuffer) error {
	if l.fr == datagramFraming {
		// One write, so that the frame is one datagram on any connection.
		l.dgm = l.dgm[:0]
		for _, s := range pkt.AsSlices() {
			l.dgm = append(l.dgm, s...)
		}
		_, err := l.conn.Write(l.dgm)
		return err
	}
	binary.BigEndian.PutUint32(l.hdr[:], uint32(pkt.Size()))
	l.iov = append(append(l.iov[:0], l.hdr[:]), pkt.AsSlices()...)
	bufs := net.Buffers(l.iov)
	_, err := bufs.WriteTo(l.conn)
	return err
}

func (l *link) MTU() uint32                             { return l.mtu }
func (l *link) SetMTU(mtu uint32)                       { l.mtu = mtu }
func (l *link) MaxHeaderLength() uint16                 { return header.EthernetMinimumSize }
func (l *link) LinkAddress() tcpip.LinkAddress          { return l.mac }
func (l *link) SetLinkAddress(mac tcpip.LinkAddress)    { l.mac = mac }
func (l *link) IsAttached() bool                        { return l.dispatcher.Load() != nil }
func (l *link) Wait()                                   {}
func (l *link) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareEther }
func (l *link) AddHeader(*stack.PacketBuffer)           {}
func (l *link) ParseHeader(*stack.PacketBuffer) bool    { return true }
func (l *link) Close()                                  {}
func (l *link) SetOnCloseAction(func())                 {}

func (l *link) Attach(d stack.NetworkDispatcher) {
	if d == nil {
		l.dispatcher.Store(nil)
		return
	}
	l.dispatcher.Store(&d)
}

// Capabilities: the stack resolves the VM's address with ARP, and frames
// from the VM are not checksum-verified again (they were made by the guest's
// kernel and crossed no wire), as gvisor-tap-vsock's endpoint does.
func (l *link) Capabilities() stack.LinkEndpointCapabilities {
	return stack.CapabilityResolutionRequired | stack.CapabilityRXChecksumOffload
}
