// Package launcher finds the user's berth daemon, or starts one in the
// background, for the CLI and the GUI: both are clients of the daemon and
// never own the VM themselves.
package launcher

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/app/diskuse"
	"github.com/berthvm/berth/app/settings"
	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/internal/hypervrights"
)

// probeTimeout is how long a daemon may take to answer before it counts
// as none.
const probeTimeout = 3 * time.Second

// running returns a client of the running daemon, or nil if none answers.
func running(ctx context.Context, p settings.Paths) *control.Client {
	c := control.NewClient(p.ControlSocket())
	if _, err := probe(ctx, c); err != nil {
		return nil
	}
	return c
}

// probe asks c for the daemon's status, within probeTimeout.
func probe(ctx context.Context, c *control.Client) (control.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	return c.Status(ctx)
}

// noDaemon says whether err is a call that found no daemon: nothing
// listens on the control socket, or it is gone.
func noDaemon(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// Ensure returns a client of the running daemon, starting `berth daemon` in
// the background first if none answers. berth is the CLI binary; ""
// means this program.
// Before a daemon is started, the host is checked for what every start
// needs (hypervrights: on Windows, the user's Hyper-V rights), so the CLI
// and the dashboard say what to do instead of relaying a daemon's failure.
func Ensure(ctx context.Context, p settings.Paths, berth string) (*control.Client, error) {
	return ensure(ctx, p, berth, hypervrights.Check)
}

func ensure(ctx context.Context, p settings.Paths, berth string, preflight func() error) (*control.Client, error) {
	if c := running(ctx, p); c != nil {
		return c, nil
	}
	if err := preflight(); err != nil {
		return nil, err
	}
	exe := berth
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	if err := CheckDaemonBinary(runtime.GOOS, exe); err != nil {
		return nil, err
	}
	logPath := p.DaemonLog()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(exe, "daemon")
	cmd.Stdout, cmd.Stderr = logf, logf
	detach(cmd) // the daemon outlives this terminal or window
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the daemon: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(30 * time.Second)
	for {
		if c := running(ctx, p); c != nil {
			cmd.Process.Release()
			return c, nil
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("the daemon exited (%v):\n%s", err, Tail(logPath, 15))
		case <-deadline:
			return nil, fmt.Errorf("the daemon did not answer within 30s; see %s", logPath)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ErrNoDaemon is what Client's calls that need a daemon return when none runs.
var ErrNoDaemon = errors.New("the berth daemon is not running")

// Client is a client of the user's Berth daemon that starts the daemon when
// asked to start the machine. Without a daemon the machine is stopped.
// Each call is one request: a daemon that is not there fails to connect,
// which needs no status call first.
type Client struct {
	Paths settings.Paths
	Berth string // the berth CLI binary, which runs the daemon ("" is this program)
}

func (c Client) control() *control.Client { return control.NewClient(c.Paths.ControlSocket()) }

// Status is the daemon's status, or a stopped one when no daemon answers.
func (c Client) Status(ctx context.Context) (control.Status, error) {
	st, err := probe(ctx, c.control())
	if err != nil && ctx.Err() == nil && (noDaemon(err) || errors.Is(err, context.DeadlineExceeded)) {
		return control.Status{State: control.Stopped, DaemonLog: c.Paths.DaemonLog(), SerialLog: c.Paths.SerialLog()}, nil
	}
	return st, err
}

// Events follows the daemon's events; see control.Client.Events.
func (c Client) Events(ctx context.Context, fn func(control.Event) bool) error {
	err := c.control().Events(ctx, fn)
	if noDaemon(err) {
		return ErrNoDaemon
	}
	return err
}

// Start starts the daemon if needed, then asks it to start the machine.
func (c Client) Start(ctx context.Context) error {
	ctl, err := Ensure(ctx, c.Paths, c.Berth)
	if err != nil {
		return err
	}
	return ctl.Start(ctx)
}

// Stop stops the machine; without a daemon it is stopped already.
func (c Client) Stop(ctx context.Context, force bool) error {
	if err := c.control().Stop(ctx, force); !noDaemon(err) {
		return err
	}
	return nil
}

// Stats is the guest's resource use.
func (c Client) Stats(ctx context.Context) (protocol.Stats, error) {
	s, err := c.control().Stats(ctx)
	if noDaemon(err) {
		return s, ErrNoDaemon
	}
	return s, err
}

// errNotRunning answers the disk's calls when no daemon runs: the data
// disk's contents are known only to a running engine.
var errNotRunning = errors.New("Berth is not running: `berth start` first")

// DiskUse is what fills the data disk.
func (c Client) DiskUse(ctx context.Context) (diskuse.Report, error) {
	r, err := c.control().DiskUse(ctx)
	if noDaemon(err) {
		return r, errNotRunning
	}
	return r, err
}

// Reclaim removes what picks names and trims the data disk.
func (c Client) Reclaim(ctx context.Context, picks diskuse.Picks, progress func(string)) (diskuse.Result, error) {
	r, err := c.control().Reclaim(ctx, picks, progress)
	if noDaemon(err) {
		return r, errNotRunning
	}
	return r, err
}

// Tail returns the last n lines of a file, or a note that it is missing.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// CheckDaemonBinary refuses, on macOS, a daemon binary that is not inside
// an app bundle (…/X.app/Contents/MacOS/berth). Apple's Virtualization
// framework runs VMs only for a binary signed with the virtualization
// entitlement, and the build signs only the copy in Berth.app: a plain
// build/bin/berth would start, then fail deep in the framework with an
// entitlement error. It is refused up front, pointing at the bundle,
// rather than exec'ing the bundle's binary in its place, which could be
// another build or version than the one the user ran. Symbolic links are
// followed, so a berth on PATH linked to the bundle's binary passes.
func CheckDaemonBinary(goos, exe string) error {
	if goos != "darwin" {
		return nil
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	if strings.HasSuffix(filepath.Dir(exe), ".app/Contents/MacOS") {
		return nil
	}
	return fmt.Errorf("%s is not inside Berth.app: on macOS only the signed berth in the app bundle runs the daemon (Apple's Virtualization framework needs its entitlement). Run /Applications/Berth.app/Contents/MacOS/berth, or build/Berth.app/Contents/MacOS/berth after `make run`, or link it onto your PATH (README \"macOS\")", exe)
}
