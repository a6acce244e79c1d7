package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/berthvm/berth/app/daemon"
	"github.com/berthvm/berth/app/dockerctx"
	"github.com/berthvm/berth/app/launcher"
	"github.com/berthvm/berth/app/settings"
)

func cmdDaemon(args []string) error {
	// It always runs in the foreground; berth start backgrounds it.
	fs := newFlags("daemon")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if exe, err := os.Executable(); err == nil {
		if err := launcher.CheckDaemonBinary(runtime.GOOS, exe); err != nil {
			return err
		}
	}
	p, err := paths()
	if err != nil {
		return err
	}
	lock, err := daemon.Lock(p)
	if errors.Is(err, daemon.ErrRunning) {
		return fmt.Errorf("%w (its control socket is %s)", err, p.ControlSocket())
	}
	if err != nil {
		return err
	}
	defer lock.Close()
	guestDir, err := findGuest()
	if err != nil {
		return err
	}
	backend, err := newBackend(context.Background(), log, p)
	if err != nil {
		return err
	}
	defer backend.Close() //nolint:errcheck // at exit, nothing is left to report to
	d := daemon.New(daemon.Options{
		Paths: p, Host: settings.ThisHost(), GuestDir: guestDir, Backend: backend,
		Contexts: dockerctx.DefaultStore(), Version: version, Log: log,
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := d.Recover(ctx); err != nil {
		return err
	}
	if err := servePprof(ctx, p, log); err != nil {
		return err
	}
	go newMemTrimmer().run(ctx, log)
	log.Info("daemon ready", "pid", os.Getpid(), "socket", p.ControlSocket(), "guest", guestDir)
	return d.Serve(ctx)
}

// findGuest locates the guest image: BERTH_GUEST_DIR, or beside the binary
// as `make` (build/bin → build/guest/ARCH) and the packages install it.
func findGuest() (string, error) {
	if dir := os.Getenv("BERTH_GUEST_DIR"); dir != "" {
		return filepath.Abs(dir)
	}
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	exe, _ = filepath.EvalSymlinks(exe)
	bin := filepath.Dir(exe)
	candidates := []string{
		filepath.Join(bin, "..", "guest", runtime.GOARCH),
		filepath.Join(bin, "..", "share", "berth", "guest", runtime.GOARCH),
		filepath.Join(bin, "..", "lib", "berth", "guest", runtime.GOARCH),
		filepath.Join(bin, "..", "Resources", "guest", runtime.GOARCH), // Berth.app
	}
	for _, c := range candidates {
		// Every guest image has a manifest; which disks it holds depends
		// on the hypervisor (the daemon checks those).
		if _, err := os.Stat(filepath.Join(c, "manifest.json")); err == nil {
			return filepath.Clean(c), nil
		}
	}
	return "", fmt.Errorf("no guest image found (looked in %v); build it with `make guest-image` or set BERTH_GUEST_DIR", candidates)
}
