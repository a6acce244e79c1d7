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
	return panicReason(b)
}

// panicReason is the panic line's reason in console text, with the oops
// that led to it and where it happened: "Fatal exception" alone says
// nothing, the oops line ("int3", "general protection fault", "kernel BUG
// at …") and the faulting kernel function say what broke.
func panicReason(b []byte) string {
	i := bytes.LastIndex(b, []byte(panicMarker))
	if i < 0 {
		return ""
	}
	reason := restOfLine(b[i+len(panicMarker):])
	before := b[:i]
	o := bytes.LastIndex(before, []byte("Oops: "))
	if bug := bytes.LastIndex(before, []byte("kernel BUG at ")); bug > o {
		o = bug
	}
	if o < 0 {
		return reason
	}
	oops := restOfLine(before[o:])
	// The first kernel-mode RIP after the oops is where it happened (a
	// user-mode one, "RIP: 0033:", belongs to the interrupted task).
	if r := bytes.Index(before[o:], []byte("RIP: 0010:")); r >= 0 {
		oops += " at " + restOfLine(before[o+r+len("RIP: 0010:"):])
	}
	return reason + " (" + oops + ")"
}

func restOfLine(b []byte) string {
	if nl := bytes.IndexByte(b, '\n'); nl >= 0 {
		b = b[:nl]
	}
	return string(bytes.TrimSpace(b))
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
				if bytes.Contains(line, []byte(panicMarker)) {
					return &bootFailure{reason: "its kernel panicked: " + lastPanic(path)}
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
