package hyperv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hugelgupf/p9/p9"

	"github.com/berthvm/berth/vmhost"
)

// recordingNetwork hands each stream link's first bytes to got.
type recordingNetwork struct{ got chan string }

func (recordingNetwork) ServeDatagram(context.Context, net.Conn) error { return nil }
func (n recordingNetwork) ServeStream(_ context.Context, c net.Conn) error {
	b := make([]byte, 5)
	_, err := io.ReadFull(c, b)
	n.got <- string(b)
	return err
}

// Unix sockets stand in for Hyper-V sockets: what the guest dials on each
// port is what it gets.
func TestServeLinks(t *testing.T) {
	dir := t.TempDir()
	shared := t.TempDir()
	os.WriteFile(filepath.Join(shared, "hello.txt"), []byte("from the host"), 0o644)
	sock := func(port uint32) string { return filepath.Join(dir, fmt.Sprint(port)) }
	listen := func(port uint32) (net.Listener, error) { return net.Listen("unix", sock(port)) }
	p := plan{
		Name:      "berth",
		Options:   "console=ttyS0 berth.vsock_nic=1025",
		Shares:    []share{{Share: vmhost.Share{Tag: "berth0", HostPath: shared}, Port: SharePortBase}},
		SerialLog: filepath.Join(dir, "serial.log"),
	}
	nw := recordingNetwork{got: make(chan string, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := serveLinks(ctx, p, nw, listen, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	dial := func(port uint32) net.Conn {
		c, err := net.Dial("unix", sock(port))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c
	}

	// The options, then EOF, for each dial (guestd may ask again).
	for i := 0; i < 2; i++ {
		c := dial(ConfigPort)
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(got) != p.Options {
			t.Fatalf("options: %q, %v", got, err)
		}
	}

	// eth0's stream reaches the virtual network.
	c := dial(NICPort)
	c.Write([]byte("frame"))
	if got := <-nw.got; got != "frame" {
		t.Fatalf("the network got %q", got)
	}
	c.Close()

	// guestd's log lands in the serial log, whole lines only.
	c = dial(LogPort)
	c.Write([]byte("level=INFO msg=booting\nberth: fatal: no network"))
	c.Close()
	want := "level=INFO msg=booting\nberth: fatal: no network\n"
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if got, _ := os.ReadFile(p.SerialLog); string(got) == want {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("serial log %q, want %q", got, want)
		}
	}

	// The share is a 9P2000.L server on its port.
	pc, err := p9.NewClient(dial(SharePortBase))
	if err != nil {
		t.Fatal(err)
	}
	root, err := pc.Attach("/")
	if err != nil {
		t.Fatal(err)
	}
	_, f, err := root.Walk([]string{"hello.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Open(p9.ReadOnly); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF || string(buf[:n]) != "from the host" {
		t.Fatalf("read over 9P: %q, %v", buf[:n], err)
	}
	// A name a Windows host would read as the share's parent is refused.
	if _, _, err := root.Walk([]string{`..\..\Windows`}); err == nil {
		t.Fatal(`the share's server walked to ..\..\Windows`)
	}
	pc.Close()

	// Once ctx ends, nothing listens.
	cancel()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.Dial("unix", sock(ConfigPort))
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the options port still answers 10 s after the links were stopped")
		}
	}
}

// A port that cannot be opened fails the whole set, and closes the rest.
func TestServeLinksFailsWhole(t *testing.T) {
	dir := t.TempDir()
	var opened []net.Listener
	listen := func(port uint32) (net.Listener, error) {
		if port == NICPort {
			return nil, fmt.Errorf("in use")
		}
		l, err := net.Listen("unix", filepath.Join(dir, fmt.Sprint(port)))
		opened = append(opened, l)
		return l, err
	}
	err := serveLinks(context.Background(), plan{}, recordingNetwork{}, listen, slog.New(slog.DiscardHandler))
	if err == nil || err.Error() != "listen on Hyper-V socket port 1025: in use" {
		t.Fatalf("err = %v", err)
	}
	for _, l := range opened {
		if _, err := l.Accept(); err == nil {
			t.Fatal("a listener was left open")
		}
	}
}

// The console is appended to the log across reconnections (a reboot
// closes Hyper-V's pipe), and dialing waits for a VM not up yet.
func TestCopyConsole(t *testing.T) {
	dir := t.TempDir()
	pipe, logPath := filepath.Join(dir, "com1"), filepath.Join(dir, "serial.log")
	dial := func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", pipe)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		copyConsole(ctx, dial, logPath, 10*time.Millisecond, slog.New(slog.DiscardHandler))
		close(done)
	}()
	time.Sleep(200 * time.Millisecond) // it dials in vain meanwhile
	l, err := net.Listen("unix", pipe)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, boot := range []string{"first boot\n", "second boot\n"} {
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(boot))
		c.Close()
	}
	want := "first boot\nsecond boot\n"
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got, _ := os.ReadFile(logPath)
		if string(got) == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log %q, want %q", got, want)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("copyConsole did not end with its context")
	}
}

// A read-only share is read-only on the host's side of the link: root in
// the guest may remount it read-write, the server still refuses.
func TestServeLinksReadOnlyShare(t *testing.T) {
	dir, shared := t.TempDir(), t.TempDir()
	sock := func(port uint32) string { return filepath.Join(dir, fmt.Sprint(port)) }
	listen := func(port uint32) (net.Listener, error) { return net.Listen("unix", sock(port)) }
	p := plan{Name: "berth", Shares: []share{
		{Share: vmhost.Share{Tag: "berth0", HostPath: shared, ReadOnly: true}, Port: SharePortBase},
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := serveLinks(ctx, p, recordingNetwork{}, listen, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", sock(SharePortBase))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := p9.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	root, err := pc.Attach("/")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := root.Create("new.txt", p9.WriteOnly, 0o644, 0, 0); err == nil {
		t.Fatal("a file was created in a read-only share")
	}
	if entries, _ := os.ReadDir(shared); len(entries) != 0 {
		t.Fatalf("the host's folder has %d entries", len(entries))
	}
}

// countingHandler counts log records by level.
type countingHandler struct {
	mu *sync.Mutex
	n  map[slog.Level]int
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n[r.Level]++
	return nil
}
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countingHandler) WithGroup(string) slog.Handler      { return h }

// A console that cannot be dialed (Hyper-V's COM pipe refuses a caller
// that is not elevated) is said once, however often it is tried.
func TestCopyConsoleSaysABlindConsoleOnce(t *testing.T) {
	h := countingHandler{mu: &sync.Mutex{}, n: map[slog.Level]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	tries := make(chan struct{}, 100)
	dial := func(context.Context) (net.Conn, error) {
		tries <- struct{}{}
		return nil, errors.New("open \\\\.\\pipe\\berth-com1: Access is denied.") //nolint:revive // Windows's own words, verbatim
	}
	done := make(chan struct{})
	go func() {
		copyConsole(ctx, dial, filepath.Join(t.TempDir(), "serial.log"), time.Millisecond, slog.New(h))
		close(done)
	}()
	for i := 0; i < 5; i++ {
		<-tries
	}
	cancel()
	<-done
	if h.n[slog.LevelWarn] != 1 {
		t.Fatalf("%d warnings for one blind console", h.n[slog.LevelWarn])
	}
}

// vmAddr is a Hyper-V socket's remote address as the test needs it.
type vmAddr string

func (vmAddr) Network() string  { return "hvsock" }
func (a vmAddr) String() string { return string(a) + ":00000400-facb-11e6-bd58-64006a7986d3" }

// fakeWildcard is a listener bound to the wildcard: whoever dials.
type fakeWildcard struct{ conns chan net.Conn }

func (l fakeWildcard) Accept() (net.Conn, error) {
	c, ok := <-l.conns
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}
func (fakeWildcard) Close() error   { return nil }
func (fakeWildcard) Addr() net.Addr { return vmAddr("00000000-0000-0000-0000-000000000000") }

type peerConn struct {
	net.Conn
	from vmAddr
}

func (c peerConn) RemoteAddr() net.Addr { return c.from }

// Another VM's connection is closed and never handed over; the VM's own
// is, whatever the case of its ID.
func TestFromVMTakesOnlyItsVM(t *testing.T) {
	const ours, theirs = "A1B2C3D4-0000-4000-8000-000000000001", "a1b2c3d4-0000-4000-8000-000000000002"
	wild := fakeWildcard{conns: make(chan net.Conn, 2)}
	theirSide, theirConn := net.Pipe()
	_, ourConn := net.Pipe()
	wild.conns <- peerConn{theirConn, vmAddr(theirs)}
	wild.conns <- peerConn{ourConn, vmAddr(strings.ToLower(ours))}
	close(wild.conns)
	l := fromVM{Listener: wild, vmID: ours, peer: func(a net.Addr) string { return string(a.(vmAddr)) }, log: slog.New(slog.DiscardHandler)}

	c, err := l.Accept()
	if err != nil || c.RemoteAddr().(vmAddr) != vmAddr(strings.ToLower(ours)) {
		t.Fatalf("Accept = %v, %v", c, err)
	}
	theirSide.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := theirSide.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the other VM's connection: %v, want it closed", err)
	}
	if _, err := l.Accept(); err == nil {
		t.Fatal("Accept after the listener closed")
	}
}
