package daemon

import (
	"bytes"
	"context"
	"io"
	"os"
	"time"

	"github.com/berthvm/berth/guestd/protocol"
)

// bootFailure is guestd's own account of why the guest cannot boot.
type bootFailure struct{ reason string }

func (b *bootFailure) Error() string { return "the guest failed to boot: " + b.reason }

// panicMarker starts the line a Linux kernel prints when it panics.
const panicMarker = "Kernel panic - not syncing:"

// lastPanic returns the reason of the last kernel panic in the console log,
// or "".
func lastPanic(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > 64<<10 {
		f.Seek(fi.Size()-64<<10, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	i := bytes.LastIndex(b, []byte(panicMarker))
	if i < 0 {
		return ""
	}
	line := b[i+len(panicMarker):]
	if nl := bytes.IndexByte(line, '\n'); nl >= 0 {
		line = line[:nl]
	}
	return string(bytes.TrimSpace(line))
}

// consoleFailure watches the VM console until ctx ends for guestd's fatal
// line or a kernel panic, which can come before the guest API exists:
// without it such a boot would be waited on until readyTimeout. It returns
// a *bootFailure, or nil when ctx ends first.
func consoleFailure(ctx context.Context, path string, every time.Duration) error {
	var off int64
	var pending []byte
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if f, err := os.Open(path); err == nil {
			f.Seek(off, io.SeekStart)
			b, _ := io.ReadAll(f)
			f.Close()
			off += int64(len(b))
			pending = append(pending, b...)
			for {
				nl := bytes.IndexByte(pending, '\n')
				if nl < 0 {
					break
				}
				line := pending[:nl]
				pending = pending[nl+1:]
				if i := bytes.Index(line, []byte(protocol.FatalMarker)); i >= 0 {
					return &bootFailure{reason: string(bytes.TrimSpace(line[i+len(protocol.FatalMarker):]))}
				}
				if i := bytes.Index(line, []byte(panicMarker)); i >= 0 {
					return &bootFailure{reason: "its kernel panicked: " + string(bytes.TrimSpace(line[i+len(panicMarker):]))}
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
