//go:build e2e

package e2e

import (
	"log/slog"
	"os"
	"testing"
)

// testLogger logs to stderr: the VM's network goroutines may log after a
// test has returned, when t.Log would panic.
func testLogger(*testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
