package hyperv

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
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
		Name:    "berth",
		Options: "console=ttyS0 berth.vsock_nic=1025",
		Shares:  []share{{Share: vmhost.Share{Tag: "berth0", HostPath: shared}, Port: SharePortBase}},
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
	pc.Close()

	// Once ctx ends, nothing listens.
	cancel()
	time.Sleep(100 * time.Millisecond)
	if _, err := net.Dial("unix", sock(ConfigPort)); err == nil {
		t.Fatal("the options port still answers after the links were stopped")
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
	go func() { copyConsole(ctx, dial, logPath, slog.New(slog.DiscardHandler)); close(done) }()
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
