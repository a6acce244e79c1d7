// Command bootguest boots the guest image under QEMU with Berth's virtual
// network and serves its docker socket until interrupted, then shuts the
// guest down cleanly. It is the stand-in for `berth start` until the daemon
// exists.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/berthvm/berth/e2e/vm"
)

func main() {
	guest := flag.String("guest", "build/guest/amd64", "guest image directory")
	state := flag.String("state", "build/run", "directory for the data disk, sockets and logs")
	cpus := flag.Int("cpus", 2, "virtual CPUs")
	mem := flag.Int("memory", 2048, "memory in MiB")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, _ := filepath.Abs(*state)
	// The VM's network must outlive the interrupt, to carry the shutdown.
	v, err := vm.Boot(context.Background(), vm.Options{
		GuestDir: *guest, DataDisk: filepath.Join(st, "data.img"), DataSize: 64 << 30,
		StateDir: st, CPUs: *cpus, MemoryMB: *mem,
	}, log)
	if err != nil {
		log.Error("boot", "err", err)
		os.Exit(1)
	}
	fmt.Printf("booting (serial log: %s) ...\n", v.SerialLog)
	h, err := v.WaitReady(ctx)
	if err != nil {
		log.Error("boot", "err", err)
		v.Kill()
		os.Exit(1)
	}
	fmt.Printf("ready in %.1fs: docker %s, kernel %s\n\n  export DOCKER_HOST=unix://%s\n\nCtrl-C stops the VM.\n",
		time.Since(v.Launched).Seconds(), h.Versions.Docker, h.Versions.Kernel, v.DockerSock)
	<-ctx.Done()
	fmt.Println("stopping ...")
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := v.Shutdown(sctx); err != nil {
		log.Error("shutdown", "err", err)
		v.Kill()
		os.Exit(1)
	}
}
