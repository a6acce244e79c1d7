//go:build !linux && !windows && !(darwin && cgo)

package fswatch

import (
	"fmt"
	"log/slog"
	"runtime"
)

// Watch is not there yet on this OS: shared folders work, without events.
func Watch(root string, _ Options, _ *slog.Logger) (Source, error) {
	return nil, fmt.Errorf("watch %s: file events are not implemented on %s", root, runtime.GOOS)
}
