package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"

	"github.com/berthvm/berth/app/settings"
)

// servePprof serves Go's profiler on pprof.sock in the private run
// directory when BERTH_PPROF=1 (off by default): the benchmarks profile the
// daemon during transfers with `go tool pprof` over that socket.
func servePprof(ctx context.Context, p settings.Paths, log *slog.Logger) error {
	if os.Getenv("BERTH_PPROF") != "1" {
		return nil
	}
	path := filepath.Join(p.Run, "pprof.sock")
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("pprof: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return fmt.Errorf("pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux}
	context.AfterFunc(ctx, func() { srv.Close() }) //nolint:errcheck // stopping the profiler at exit
	go func() {
		if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			log.Warn("profiler stopped", "err", err)
		}
	}()
	log.Info("profiler on", "socket", path)
	return nil
}
