//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthvm/berth/e2e/vm"
)

// The arm64 guest image, the one vz boots on Apple silicon, booted under
// emulation (qemu-system-aarch64, virt, -cpu max) with the devices vz gives
// it (virtio console hvc0, virtio-blk disks by serial, virtio-net) up to a
// working engine and a run of the preloaded welcome image. Slow (a whole
// foreign CPU emulated), so it runs only when BERTH_GUEST_DIR_ARM64 names
// the image (`make guest-image ARCH=arm64`).
func TestArm64Guest(t *testing.T) {
	dir := os.Getenv("BERTH_GUEST_DIR_ARM64")
	if dir == "" {
		t.Skip("BERTH_GUEST_DIR_ARM64 is not set")
	}
	if _, err := exec.LookPath("qemu-system-aarch64"); err != nil {
		t.Skip("qemu-system-aarch64 is not installed (Debian: qemu-system-arm)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	state := t.TempDir()
	v, err := vm.Boot(ctx, vm.Options{
		GuestDir: dir, DataDisk: filepath.Join(state, "data.img"), DataSize: 16 << 30,
		StateDir: filepath.Join(state, "run"), CPUs: 2, MemoryMB: 2048, Arch: "arm64",
	}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpSerial(t, v.SerialLog)
		}
		v.Kill()
	})
	h, err := v.WaitReady(ctx)
	if err != nil {
		t.Fatal(err)
	}
	steps := bootSteps(h)
	t.Logf("BOOT arm64: qemu launch -> guest ready %.1fs; kernel -> init %.2fs, data disk %.2fs, containerd %.2fs, engine ready %.2fs (guest uptime)",
		time.Since(v.Launched).Seconds(), steps["init"], steps["data-disk"], steps["containerd-ready"], steps["engine-ready"])
	if len(h.Problems) > 0 {
		t.Errorf("boot problems: %q", h.Problems)
	}
	sock := v.DockerSock
	if arch := docker(t, sock, "version", "--format", "{{.Server.Arch}}"); arch != "arm64" {
		t.Fatalf("server architecture %q, want arm64", arch)
	}
	start := time.Now()
	if out := docker(t, sock, "run", "--rm", "berth/welcome:latest", "sh", "-c", "uname -m; test -f /www/index.html && echo welcome"); !strings.Contains(out, "aarch64") || !strings.Contains(out, "welcome") {
		t.Fatalf("welcome image run: %q", out)
	}
	t.Logf("docker run of the welcome image: %.1fs", time.Since(start).Seconds())
	if err := v.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}
