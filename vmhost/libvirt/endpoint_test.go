package libvirt

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as a fake libvirtd: with FAKE_LIBVIRTD_SOCKET set
// it does what `libvirtd --timeout=120 --daemon` does, which is to detach a
// daemon that listens on the session socket, and return.
func TestMain(m *testing.M) {
	if sock := os.Getenv("FAKE_LIBVIRTD_SOCKET"); sock != "" {
		if os.Getenv("FAKE_LIBVIRTD_CHILD") == "" {
			if len(os.Args) < 3 || os.Args[1] != spawnTimeout || os.Args[2] != "--daemon" {
				os.Stderr.WriteString("fake libvirtd: unexpected arguments " + strings.Join(os.Args[1:], " "))
				os.Exit(2)
			}
			child := exec.Command(os.Args[0])
			child.Env = append(os.Environ(), "FAKE_LIBVIRTD_CHILD=1")
			if err := child.Start(); err != nil {
				os.Exit(3)
			}
			os.Exit(0)
		}
		time.Sleep(300 * time.Millisecond) // a daemon takes a while to listen
		os.MkdirAll(filepath.Dir(sock), 0o700)
		l, err := net.Listen("unix", sock)
		if err != nil {
			os.Exit(4)
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		time.Sleep(5 * time.Second)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestEnsureDaemonStartsTheSessionDaemon(t *testing.T) {
	dir, err := os.MkdirTemp("", "lv") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	e := endpoint{Socket: filepath.Join(dir, "libvirt", "libvirt-sock"), Session: true, Cache: dir}
	t.Setenv("FAKE_LIBVIRTD_SOCKET", e.Socket)
	self, _ := os.Executable()
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	if err := ensureDaemon(ctx, e, self, log); err != nil {
		t.Fatal(err)
	}
	if !dialable(e.Socket) {
		t.Fatal("no session daemon answers after ensureDaemon")
	}
	// One that runs is used as it is.
	if err := ensureDaemon(ctx, e, "/nonexistent/libvirtd", log); err != nil {
		t.Fatalf("a running daemon: %v", err)
	}
}

func TestEnsureDaemonSaysWhatToDo(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	session := endpoint{Socket: filepath.Join(dir, "s"), Session: true, Cache: dir}
	system := endpoint{Socket: filepath.Join(dir, "s")}
	for _, c := range []struct {
		e    endpoint
		bin  string
		want string
	}{
		{session, "", "apt-get install libvirt-daemon"},
		{system, "", "apt-get install libvirt-daemon"},
		{system, "/usr/sbin/libvirtd", "systemctl start libvirtd"},
		{session, "/bin/false", "start the libvirt session daemon"},
	} {
		if err := ensureDaemon(ctx, c.e, c.bin, log); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v with %q: %v, want …%s…", c.e, c.bin, err, c.want)
		}
	}
}
