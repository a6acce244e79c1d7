//go:build linux

// Package reaper starts and waits for child processes in a process that is
// init (PID 1) or a child subreaper. Such a process must reap every zombie,
// including orphans it never started, and exec.Cmd.Wait would race with a
// wait4(-1) loop for the children it did start. So one loop reaps all and
// hands each exit status to whoever started that pid.
package reaper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"sync"

	"golang.org/x/sys/unix"
)

// Reaper owns all children of this process.
type Reaper struct {
	log     *slog.Logger
	mu      sync.Mutex
	waiters map[int]*Process
}

// New returns a Reaper; call Reap to start reaping.
func New(log *slog.Logger) *Reaper {
	return &Reaper{log: log, waiters: map[int]*Process{}}
}

// Reap reaps children on every SIGCHLD until ctx ends.
func (r *Reaper) Reap(ctx context.Context) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, unix.SIGCHLD)
	defer signal.Stop(sig)
	for {
		r.reap()
		select {
		case <-ctx.Done():
			return
		case <-sig:
		}
	}
}

func (r *Reaper) reap() {
	// Holding the lock across wait4 keeps Start's registration atomic with
	// the fork: a child that exits at once is never reaped unregistered.
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		if p, ok := r.waiters[pid]; ok {
			delete(r.waiters, pid)
			p.ws = ws
			p.proc.Release()
			close(p.done)
			continue
		}
		r.log.Debug("reaped orphan", "pid", pid, "status", describe(ws))
	}
}

// Process is a started child.
type Process struct {
	Pid  int
	proc *os.Process
	done chan struct{} // closed by the reaper once ws is set
	ws   unix.WaitStatus
}

// Start starts cmd. Its Stdin, Stdout and Stderr must be nil or *os.File:
// other writers need exec.Cmd.Wait, which the reaper replaces.
func (r *Reaper) Start(cmd *exec.Cmd) (*Process, error) {
	for _, f := range []any{cmd.Stdin, cmd.Stdout, cmd.Stderr} {
		if _, ok := f.(*os.File); f != nil && !ok {
			return nil, fmt.Errorf("start %s: stdio must be *os.File, not %T", cmd.Path, f)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{Pid: cmd.Process.Pid, proc: cmd.Process, done: make(chan struct{})}
	r.waiters[p.Pid] = p
	return p, nil
}

// Wait blocks until the process exits and returns nil for exit status 0,
// else an error describing the status. It may be called more than once,
// from any goroutine.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if p.ws.Exited() && p.ws.ExitStatus() == 0 {
		return nil
	}
	return &ExitError{Status: p.ws}
}

// Done is closed once the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Signal sends sig to the process unless it has been reaped (its pid may
// belong to another process by then).
func (p *Process) Signal(sig os.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	return p.proc.Signal(sig)
}

// ExitError is a non-zero exit or death by signal.
type ExitError struct{ Status unix.WaitStatus }

func (e *ExitError) Error() string { return describe(e.Status) }

func describe(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Sprintf("killed by signal %s", ws.Signal())
	default:
		return fmt.Sprintf("wait status %#x", uint32(ws))
	}
}

// Run starts cmd and waits for it: exec.Cmd.Run for a reaped world. With
// combined output captured it is for short tools such as mkfs.
func (r *Reaper) Run(ctx context.Context, cmd *exec.Cmd) error {
	p, err := r.Start(cmd)
	if err != nil {
		return err
	}
	if err := p.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			p.Signal(unix.SIGKILL) //nolint:errcheck // the process may be gone; reaping reports it
		}
		return err
	}
	return nil
}

// Output runs cmd and returns its combined stdout and stderr.
func (r *Reaper) Output(ctx context.Context, cmd *exec.Cmd) ([]byte, error) {
	f, err := os.CreateTemp("", "out-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	runErr := r.Run(ctx, cmd)
	out, err := os.ReadFile(f.Name())
	if err != nil {
		return nil, err
	}
	return out, runErr
}

// ExitCode is the process's exit status, or -1 if a signal killed it.
func (e *ExitError) ExitCode() int {
	if e.Status.Exited() {
		return e.Status.ExitStatus()
	}
	return -1
}
