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
	// too, and is found again afterwards for the error's reason.
	panicked := filepath.Join(t.TempDir(), "serial.log")
	os.WriteFile(panicked, []byte("[   24.65] RIP: 0010:kmem_cache_alloc_noprof+0x107/0x2f0\n[   24.65] Kernel panic - not syncing: Fatal exception in interrupt\n[   24.65] Kernel Offset: disabled\n"), 0o644)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := consoleFailure(ctx2, panicked, time.Millisecond); err == nil || err.Error() != "the guest failed to boot: its kernel panicked: Fatal exception in interrupt" {
		t.Fatalf("panic: %v", err)
	}
	if got := lastPanic(panicked); got != "Fatal exception in interrupt" {
		t.Fatalf("lastPanic: %q", got)
	}
	if got := lastPanic(path); got != "" {
		t.Fatalf("lastPanic of a console without one: %q", got)
	}
}
