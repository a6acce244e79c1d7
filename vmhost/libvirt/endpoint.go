package libvirt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
)

// endpoint is the libvirt daemon this user talks to.
type endpoint struct {
	Socket  string
	URI     golibvirt.ConnectURI
	Session bool   // the user's own daemon (qemu:///session), not the system's
	Cache   string // the session daemon's cache directory (QEMU's logs); "" for the system daemon
}

// userEnv is what decides a user's libvirt locations.
type userEnv struct {
	UID    int
	Getenv func(string) string
	Home   string
}

// endpointFor finds the daemon where libvirt itself puts it: root uses the
// system daemon; anyone else their session daemon, whose runtime directory
// is $XDG_RUNTIME_DIR/libvirt, or its cache directory
// ($XDG_CACHE_HOME/libvirt, ~/.cache/libvirt) when that is unset (ssh, su).
func endpointFor(u userEnv) endpoint {
	if u.UID == 0 {
		return endpoint{Socket: "/run/libvirt/libvirt-sock", URI: golibvirt.QEMUSystem}
	}
	cache := filepath.Join(u.Home, ".cache", "libvirt")
	if d := u.Getenv("XDG_CACHE_HOME"); filepath.IsAbs(d) {
		cache = filepath.Join(d, "libvirt")
	}
	run := cache
	if d := u.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(d) {
		run = filepath.Join(d, "libvirt")
	}
	return endpoint{Socket: filepath.Join(run, "libvirt-sock"), URI: golibvirt.QEMUSession, Session: true, Cache: cache}
}

// qemuLog is where libvirt keeps QEMU's own output for a domain.
func (e endpoint) qemuLog(name string) string {
	if !e.Session {
		return filepath.Join("/var/log/libvirt/qemu", name+".log")
	}
	return filepath.Join(e.Cache, "qemu", "log", name+".log")
}

// daemonPaths are where distributions install libvirtd, which a normal
// user's PATH usually lacks.
var daemonPaths = []string{"/usr/sbin/libvirtd", "/usr/local/sbin/libvirtd", "/sbin/libvirtd"}

// findProgram finds name on PATH, else the first executable of paths.
func findProgram(lookPath func(string) (string, error), name string, paths []string) string {
	if p, err := lookPath(name); err == nil {
		return p
	}
	return firstExecutable(paths)
}

// firstExecutable returns the first of paths that is an executable file, or "".
func firstExecutable(paths []string) string {
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// errNoLibvirt says what to install.
var errNoLibvirt = errors.New("libvirt is not installed (no libvirtd on PATH or in /usr/sbin): install Berth's package, or `sudo apt-get install libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86`")

// spawnTimeout is the session daemon's idle exit, as libvirt's own clients
// start it: it lives while a client or a VM does.
const spawnTimeout = "--timeout=120"

// ensureDaemon makes sure a daemon answers at e. A session daemon that does
// not run is started the way virsh does (`libvirtd --timeout=120`,
// daemonized); the system daemon is the administrator's.
// bin is the daemon's program, "" when libvirt is not installed.
func ensureDaemon(ctx context.Context, e endpoint, bin string, log *slog.Logger) error {
	if dialable(e.Socket) {
		return nil
	}
	if !e.Session {
		if bin == "" {
			return errNoLibvirt
		}
		return fmt.Errorf("libvirtd is not running (no socket at %s): start it with `sudo systemctl start libvirtd`", e.Socket)
	}
	if bin == "" {
		return errNoLibvirt
	}
	log.Info("starting your libvirt session daemon", "bin", bin, "socket", e.Socket)
	cmd := exec.CommandContext(ctx, bin, spawnTimeout, "--daemon")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("start the libvirt session daemon (%s %s --daemon): %w: %s", bin, spawnTimeout, err, strings.TrimSpace(string(out)))
	}
	deadline := time.Now().Add(15 * time.Second)
	for !dialable(e.Socket) {
		if time.Now().After(deadline) {
			return fmt.Errorf("started %s, but nothing answers at %s after 15 s: see its log in %s", bin, e.Socket, e.Cache)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

func dialable(sock string) bool {
	c, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// explainConnect turns libvirt's refusals into what to do about them.
func explainConnect(e endpoint, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "no connection driver available"):
		return fmt.Errorf("libvirt has no QEMU driver (%s): `sudo apt-get install libvirt-daemon-driver-qemu qemu-system-x86`: %w", e.URI, err)
	case strings.Contains(msg, "authentication") || strings.Contains(msg, "Permission denied") || strings.Contains(msg, "access denied"):
		return fmt.Errorf("you may not use libvirt at %s (%s): %w", e.Socket, e.URI, err)
	}
	return fmt.Errorf("connect to libvirtd at %s (%s): %w", e.Socket, e.URI, err)
}
