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
}
