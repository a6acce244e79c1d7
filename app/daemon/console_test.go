package daemon

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestConsoleFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "serial.log")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan error, 1)
	go func() { got <- consoleFailure(ctx, path, 10*time.Millisecond) }()

	// The console appears late and the line arrives in pieces.
	time.Sleep(30 * time.Millisecond)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("[    3.07] EXT4-fs (vda): Cannot load crc32c driver.\n\nberth guest failed")
	time.Sleep(30 * time.Millisecond)
	f.WriteString(" to boot: initrd: mount system image /dev/vda: no such file\nboot with berth.debug=shell\n")
	if err := <-got; err == nil || err.Error() != "the guest failed to boot: initrd: mount system image /dev/vda: no such file" {
		t.Fatalf("got %v", err)
	}

	quiet, stop := context.WithCancel(context.Background())
	stop()
	if err := consoleFailure(quiet, filepath.Join(t.TempDir(), "none"), time.Millisecond); err != nil {
		t.Fatalf("no console, ended context: %v", err)
	}

	// A kernel panic (the 6.12 kernel under emulation once) is a failure
	// too, and is found again afterwards for the error's reason, with the
	// oops that caused it and where.
	panicked := filepath.Join(t.TempDir(), "serial.log")
	os.WriteFile(panicked, []byte(`[   24.65] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI
[   24.65] CPU: 1 UID: 0 PID: 180 Comm: dockerd Not tainted 6.12.57+deb13-cloud-amd64 #1  Debian 6.12.57-1
[   24.65] RIP: 0010:kmem_cache_alloc_noprof+0x107/0x2f0
[   24.65] Call Trace:
[   24.65] RIP: 0033:0x7fe62169264d
[   24.65] Kernel panic - not syncing: Fatal exception in interrupt
[   24.65] Kernel Offset: disabled
`), 0o644)
	const want = "Fatal exception in interrupt (Oops: int3: 0000 [#1] PREEMPT SMP NOPTI at kmem_cache_alloc_noprof+0x107/0x2f0)"
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := consoleFailure(ctx2, panicked, time.Millisecond); err == nil || err.Error() != "the guest failed to boot: its kernel panicked: "+want {
		t.Fatalf("panic: %v", err)
	}
	if got := lastPanic(panicked); got != want {
		t.Fatalf("lastPanic: %q", got)
	}
	if got := panicReason([]byte("Kernel panic - not syncing: VFS: Unable to mount root fs\n")); got != "VFS: Unable to mount root fs" {
		t.Fatalf("a panic with no oops: %q", got)
	}
	if got := lastPanic(path); got != "" {
		t.Fatalf("lastPanic of a console without one: %q", got)
	}
}
