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

// consoleFailure watches the VM console until ctx ends for guestd's fatal
// line, which can come before the guest API exists (in the initrd, say):
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
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
