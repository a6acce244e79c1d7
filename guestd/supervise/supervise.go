//go:build linux

// Package supervise keeps a long-running service (containerd, dockerd) alive:
// it restarts the service when it exits, backing off exponentially while it
// keeps crashing, and keeps its recent output for diagnosis.
package supervise

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/guestd/reaper"
)

// Backoff bounds the delay between restarts.
type Backoff struct {
	Min, Max time.Duration
	// ResetAfter is how long a run must last for the next crash to count as
	// the first again.
	ResetAfter time.Duration
}

// DefaultBackoff suits daemons that take seconds to start.
var DefaultBackoff = Backoff{Min: time.Second, Max: 30 * time.Second, ResetAfter: time.Minute}

// Next returns the delay after a run that lasted ran, given the previous delay.
func (b Backoff) Next(prev, ran time.Duration) time.Duration {
	if prev == 0 || ran >= b.ResetAfter {
		return b.Min
	}
	return min(prev*2, b.Max)
}

// Service describes what to run.
type Service struct {
	Name string
	// Command builds a fresh command for every start.
	Command func() *exec.Cmd
	// Ready, if set, blocks until the started service is usable.
	Ready   func(ctx context.Context) error
	Backoff Backoff
	// Output receives the service's output lines, prefixed with its name.
	Output io.Writer
	// OnExit, if set, hears of every unexpected exit with the status after it.
	OnExit func(protocol.ServiceStatus)
}

// Supervisor runs one Service.
type Supervisor struct {
	svc    Service
	reaper *reaper.Reaper
	log    *slog.Logger

	mu      sync.Mutex
	status  protocol.ServiceStatus
	proc    *reaper.Process
	tail    []string
	readyCh chan struct{} // closed at the first readiness
}

const tailLines = 50

// New returns a supervisor; call Run to start the service.
func New(svc Service, r *reaper.Reaper, log *slog.Logger) *Supervisor {
	if svc.Backoff == (Backoff{}) {
		svc.Backoff = DefaultBackoff
	}
	if svc.Output == nil {
		svc.Output = io.Discard
	}
	return &Supervisor{
		svc: svc, reaper: r, log: log.With("service", svc.Name),
		status:  protocol.ServiceStatus{Name: svc.Name, State: protocol.ServiceStopped, Since: time.Now()},
		readyCh: make(chan struct{}),
	}
}

// Ready is closed the first time the service becomes ready.
func (s *Supervisor) Ready() <-chan struct{} { return s.readyCh }

// Status returns a snapshot.
func (s *Supervisor) Status() protocol.ServiceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	if st.State != protocol.ServiceRunning {
		st.Tail = append([]string(nil), s.tail...)
	}
	return st
}

func (s *Supervisor) setState(st protocol.ServiceState, pid int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status.State, s.status.Pid, s.status.Since = st, pid, time.Now()
	if err != nil {
		s.status.LastError = err.Error()
	}
}

// Run keeps the service running until ctx is cancelled, then stops it with
// SIGTERM, and SIGKILL after grace.
func (s *Supervisor) Run(ctx context.Context, grace time.Duration) {
	var delay time.Duration
	for {
		started := time.Now()
		err := s.runOnce(ctx, grace)
		if ctx.Err() != nil {
			s.setState(protocol.ServiceStopped, 0, nil)
			return
		}
		ran := time.Since(started)
		delay = s.svc.Backoff.Next(delay, ran)
		s.mu.Lock()
		s.status.Restarts++
		s.mu.Unlock()
		s.setState(protocol.ServiceRestarting, 0, err)
		s.log.Error("service exited; restarting", "err", err, "ran", ran.Round(time.Millisecond), "retry_in", delay)
		if s.svc.OnExit != nil {
			s.svc.OnExit(s.Status())
		}
		select {
		case <-ctx.Done():
			s.setState(protocol.ServiceStopped, 0, nil)
			return
		case <-time.After(delay):
		}
	}
}

func (s *Supervisor) runOnce(ctx context.Context, grace time.Duration) error {
	cmd := s.svc.Command()
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start %s: %w", s.svc.Name, err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	s.setState(protocol.ServiceStarting, 0, nil)
	p, err := s.reaper.Start(cmd)
	w.Close()
	if err != nil {
		r.Close()
		return fmt.Errorf("start %s: %w", s.svc.Name, err)
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	s.log.Info("started", "pid", p.Pid)
	copied := make(chan struct{})
	go func() {
		s.copyOutput(r)
		close(copied)
	}()

	readyCtx, cancelReady := context.WithCancel(ctx)
	defer cancelReady()
	go func() {
		if s.svc.Ready != nil {
			if err := s.svc.Ready(readyCtx); err != nil {
				return
			}
		}
		s.setState(protocol.ServiceRunning, p.Pid, nil)
		s.log.Info("ready", "pid", p.Pid)
		s.mu.Lock()
		select {
		case <-s.readyCh:
		default:
			close(s.readyCh)
		}
		s.mu.Unlock()
	}()

	waitErr := make(chan error, 1)
	go func() { waitErr <- p.Wait(context.Background()) }()
	select {
	case err = <-waitErr:
	case <-ctx.Done():
		err = stop(p, grace, waitErr)
	}
	cancelReady()
	<-copied
	r.Close()
	if err == nil {
		err = errors.New("exited with status 0")
	}
	return err
}

// stop terminates p gracefully, then forcibly.
func stop(p *reaper.Process, grace time.Duration, waitErr <-chan error) error {
	p.Signal(unix.SIGTERM) //nolint:errcheck // the process may be gone; Wait reports it
	select {
	case err := <-waitErr:
		return err
	case <-time.After(grace):
		p.Signal(unix.SIGKILL) //nolint:errcheck // the process may be gone; Wait reports it
		return <-waitErr
	}
}

func (s *Supervisor) copyOutput(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintf(s.svc.Output, "[%s] %s\n", s.svc.Name, line)
		s.mu.Lock()
		s.tail = append(s.tail, line)
		if len(s.tail) > tailLines {
			s.tail = s.tail[len(s.tail)-tailLines:]
		}
		s.mu.Unlock()
	}
}
