// Package launcher finds the user's berth daemon, or starts one in the
// background, for the CLI and the GUI: both are clients of the daemon and
// never own the VM themselves.
package launcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/app/settings"
	"github.com/berthvm/berth/guestd/protocol"
)

// Running returns a client of the running daemon, or nil if none answers.
func Running(ctx context.Context, p settings.Paths) *control.Client {
	c := control.NewClient(p.ControlSocket())
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := c.Status(ctx); err != nil {
		return nil
	}
	return c
}

// Ensure returns a client of the running daemon, starting `berth daemon` in
// the background first if none answers. berth is the CLI binary; ""
// means this program.
func Ensure(ctx context.Context, p settings.Paths, berth string) (*control.Client, error) {
	if c := Running(ctx, p); c != nil {
		return c, nil
	}
	exe := berth
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
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
		if c := Running(ctx, p); c != nil {
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

// ErrNoDaemon is what Machine's calls that need a daemon return when none runs.
var ErrNoDaemon = errors.New("the berth daemon is not running")

// Machine is the user's Berth machine as seen through its daemon, which it
// starts when asked to start the machine. Without a daemon the machine is
// stopped.
type Machine struct {
	Paths settings.Paths
	Berth string // the berth CLI binary, which runs the daemon ("" is this program)
}

// Status is the daemon's status, or a stopped one when no daemon runs.
func (m Machine) Status(ctx context.Context) (control.Status, error) {
	c := Running(ctx, m.Paths)
	if c == nil {
		return control.Status{State: control.Stopped, DaemonLog: m.Paths.DaemonLog(), SerialLog: m.Paths.SerialLog()}, nil
	}
	return c.Status(ctx)
}

// Events follows the daemon's events; see control.Client.Events.
func (m Machine) Events(ctx context.Context, fn func(control.Event) bool) error {
	c := Running(ctx, m.Paths)
	if c == nil {
		return ErrNoDaemon
	}
	return c.Events(ctx, fn)
}

// Start starts the daemon if needed, then asks it to start the machine.
func (m Machine) Start(ctx context.Context) error {
	c, err := Ensure(ctx, m.Paths, m.Berth)
	if err != nil {
		return err
	}
	return c.Start(ctx)
}

// Stop stops the machine; without a daemon it is stopped already.
func (m Machine) Stop(ctx context.Context, force bool) error {
	c := Running(ctx, m.Paths)
	if c == nil {
		return nil
	}
	return c.Stop(ctx, force)
}

// Stats is the guest's resource use.
func (m Machine) Stats(ctx context.Context) (protocol.Stats, error) {
	c := Running(ctx, m.Paths)
	if c == nil {
		return protocol.Stats{}, ErrNoDaemon
	}
	return c.Stats(ctx)
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
