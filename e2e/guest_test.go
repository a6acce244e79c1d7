//go:build e2e

// End-to-end tests of the guest image: a real VM under QEMU (TCG here),
// the real dockerd inside, driven by the host's real docker CLI.
package e2e

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthvm/berth/e2e/vm"
	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/packaging/imagearchive"
)

const testImage = "berth/busybox:e2e"

func guestDir(t *testing.T) string {
	dir := os.Getenv("BERTH_GUEST_DIR")
	if dir == "" {
		t.Fatal("BERTH_GUEST_DIR is not set: run `make e2e`")
	}
	return dir
}

func boot(t *testing.T, ctx context.Context, state, disk string) *vm.VM {
	t.Helper()
	return bootImage(t, ctx, guestDir(t), state, disk)
}

// bootImage boots the guest image in dir.
func bootImage(t *testing.T, ctx context.Context, dir, state, disk string) *vm.VM {
	t.Helper()
	v, err := vm.Boot(ctx, vm.Options{
		GuestDir: dir, DataDisk: disk, DataSize: 16 << 30,
		StateDir: state, CPUs: 2, MemoryMB: 2048,
	}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpSerial(t, v.SerialLog)
		}
		v.Kill() // a no-op once the guest has powered off
	})
	return v
}

func dumpSerial(t *testing.T, path string) {
	b, _ := os.ReadFile(path)
	lines := strings.Split(string(b), "\n")
	t.Logf("last lines of %s:\n%s", path, strings.Join(lines[max(0, len(lines)-60):], "\n"))
}

func docker(t *testing.T, sock string, args ...string) string {
	t.Helper()
	out, err := dockerErr(sock, args...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func dockerErr(sock string, args ...string) (string, error) {
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+sock, "DOCKER_CONTEXT=")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// buildBusybox makes a docker-loadable busybox image offline.
func buildBusybox(t *testing.T) string { return buildBusyboxWith(t, func(string) {}) }

// buildBusyboxWithTool is the test image with the Go program in
// ./testdata/<tool> built into /bin/<tool>.
func buildBusyboxWithTool(t *testing.T, tool string) string {
	return buildBusyboxWith(t, func(root string) {
		cmd := exec.Command("go", "build", "-o", filepath.Join(root, "bin", tool), "./testdata/"+tool)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", tool, err, out)
		}
	})
}

// buildBusyboxWith lets the caller add files to the root filesystem.
func buildBusyboxWith(t *testing.T, add func(root string)) string {
	bb := os.Getenv("BERTH_BUSYBOX")
	if bb == "" {
		t.Fatal("BERTH_BUSYBOX is not set: run `make e2e`")
	}
	root := filepath.Join(t.TempDir(), "rootfs")
	if out, err := exec.Command("bash", "../packaging/guest/busybox-rootfs.sh", bb, root).CombinedOutput(); err != nil {
		t.Fatalf("busybox rootfs: %v\n%s", err, out)
	}
	add(root)
	tarPath := filepath.Join(t.TempDir(), "busybox.tar")
	f, err := os.Create(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = imagearchive.Write(f, imagearchive.Image{
		Tags: []string{testImage}, Arch: "amd64", RootFS: root,
		Config: imagearchive.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tarPath
}

func bootSteps(h protocol.Health) map[string]float64 {
	m := map[string]float64{}
	for _, s := range h.Boot {
		m[s.Name] = s.At
	}
	return m
}

// The whole life of a machine: first boot formats the data disk, the engine
// runs containers and keeps a volume, the guest powers off cleanly through
// the guest API, and the next boot finds the volume's data.
func TestGuestLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	state := t.TempDir()
	disk := filepath.Join(state, "data.img")
	busybox := buildBusybox(t)

	v := boot(t, ctx, filepath.Join(state, "run1"), disk)
	h, err := v.WaitReady(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ready := time.Since(v.Launched)
	steps := bootSteps(h)
	t.Logf("BOOT first: qemu launch -> guest ready %.1fs; kernel -> init %.2fs, data disk %.2fs, containerd %.2fs, engine ready %.2fs (guest uptime)",
		ready.Seconds(), steps["init"], steps["data-disk"], steps["containerd-ready"], steps["engine-ready"])
	if h.DataDisk == nil || !h.DataDisk.Formatted {
		t.Fatalf("first boot did not format the blank data disk: %+v", h.DataDisk)
	}
	if len(h.Problems) > 0 {
		t.Errorf("boot problems: %q", h.Problems)
	}
	sock := v.DockerSock

	if os := docker(t, sock, "version", "--format", "{{.Server.Os}}"); os != "linux" {
		t.Fatalf("server OS %q", os)
	}
	if !strings.Contains(docker(t, sock, "images", "--format", "{{.Repository}}:{{.Tag}}"), "berth/welcome:latest") {
		t.Fatal("the welcome image was not preloaded")
	}
	docker(t, sock, "load", "-i", busybox)
	if out := docker(t, sock, "run", "--rm", testImage, "echo", "hello from the guest"); out != "hello from the guest" {
		t.Fatalf("run: %q", out)
	}
	docker(t, sock, "volume", "create", "keep")
	docker(t, sock, "run", "--rm", "-v", "keep:/data", testImage, "sh", "-c", "echo persisted > /data/file && sync")

	t.Run("private guest services", func(t *testing.T) {
		guestPrivateServices(t, sock, h)
	})

	st, err := v.API.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.DataDisk.Total < 15<<30 || st.Memory.Total == 0 || st.CPUs != 2 {
		t.Fatalf("implausible stats %+v", st)
	}

	// A running container at shutdown must be stopped (SIGTERM, through
	// docker-init), not killed with the VM.
	docker(t, sock, "run", "-d", "--init", "--name", "sleeper", testImage, "sleep", "3600")
	start := time.Now()
	if err := v.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	t.Logf("BOOT shutdown through the guest API: %.1fs", time.Since(start).Seconds())
	assertCleanFilesystem(t, disk)

	v = boot(t, ctx, filepath.Join(state, "run2"), disk)
	h, err = v.WaitReady(ctx)
	if err != nil {
		t.Fatal(err)
	}
	steps = bootSteps(h)
	t.Logf("BOOT second: qemu launch -> guest ready %.1fs; kernel -> init %.2fs, engine ready %.2fs",
		time.Since(v.Launched).Seconds(), steps["init"], steps["engine-ready"])
	if h.DataDisk == nil || h.DataDisk.Formatted || h.DataDisk.Repaired {
		t.Fatalf("second boot should find a clean filesystem: %+v", h.DataDisk)
	}
	if out := docker(t, v.DockerSock, "run", "--rm", "-v", "keep:/data", testImage, "cat", "/data/file"); out != "persisted" {
		t.Fatalf("volume after reboot: %q", out)
	}
	var inspect []struct {
		State struct{ ExitCode int }
	}
	json.Unmarshal([]byte(docker(t, v.DockerSock, "inspect", "sleeper")), &inspect)
	if len(inspect) != 1 || inspect[0].State.ExitCode != 143 {
		t.Errorf("sleeper should have been stopped with SIGTERM (exit 143): %+v", inspect)
	}
	if err := v.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	assertCleanFilesystem(t, disk)
}

// guestPrivateServices checks that no container, on any network, reaches the
// engine's TCP port or the guest API, while a published port stays reachable
// (so a failure here is the firewall, not a broken network).
func guestPrivateServices(t *testing.T, sock string, h protocol.Health) {
	// A free port of the host: with Berth's daemon, the host listens on it too.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	webPort := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	docker(t, sock, "run", "-d", "--name", "web", "-p", webPort+":80", "berth/welcome")
	defer docker(t, sock, "rm", "-f", "web")
	docker(t, sock, "network", "create", "usernet")
	defer docker(t, sock, "network", "rm", "usernet")
	const guest = "192.168.127.2"
	// Each negative check runs in a container that first reaches what it
	// may (the published port, through the guest's address or, on the
	// host's network, its loopback), so a container that failed to start
	// or has no network cannot pass for a blocked one.
	probe := func(network, okAddr, addr, port string) string {
		script := `printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 ` + okAddr + ` ` + webPort + ` | head -1 && echo ALLOWED-REACHED;` +
			`printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 ` + addr + ` ` + port + `; echo "PRIVATE-EXIT=$?"`
		out, err := dockerErr(sock, "run", "--rm", "--network", network, testImage, "sh", "-c", script)
		if err != nil || !strings.Contains(out, "200 OK") || !strings.Contains(out, "ALLOWED-REACHED") {
			t.Fatalf("positive control: a container on %s cannot reach the published port at %s:%s (%v): %s", network, okAddr, webPort, err, out)
		}
		return out
	}
	for _, network := range []string{"bridge", "usernet", "host"} {
		okAddr := guest
		if network == "host" {
			okAddr = "127.0.0.1"
		}
		for _, port := range []string{"2375", "2377"} {
			for _, addr := range []string{guest, "127.0.0.1"} {
				if network != "host" && addr == "127.0.0.1" {
					continue
				}
				out := probe(network, okAddr, addr, port)
				_, private, _ := strings.Cut(out, "ALLOWED-REACHED")
				if strings.Contains(private, "HTTP/1") || strings.Contains(private, "PRIVATE-EXIT=0") {
					t.Errorf("container on %s reached %s:%s: %s", network, addr, port, out)
				}
			}
		}
	}
}

func assertCleanFilesystem(t *testing.T, disk string) {
	t.Helper()
	out, err := exec.Command("dumpe2fs", "-h", disk).CombinedOutput()
	if err != nil {
		t.Fatalf("dumpe2fs: %v\n%s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "Filesystem state:         clean") || strings.Contains(s, "needs_recovery") {
		t.Fatalf("data disk not cleanly unmounted:\n%s", s)
	}
}

// A data disk that holds something else is never formatted: the guest
// reports why through the API and still powers off on request.
func TestForeignDataDiskIsRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	state := t.TempDir()
	disk := filepath.Join(state, "data.img")
	f, err := os.Create(disk)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(1 << 30)
	f.WriteAt([]byte("EFI PART"), 512)
	f.Close()
	v := boot(t, ctx, filepath.Join(state, "run"), disk)
	_, err = v.WaitReady(ctx)
	if err == nil || !strings.Contains(err.Error(), "refusing to format") {
		t.Fatalf("err = %v, want a refusal to format", err)
	}
	serial, _ := os.ReadFile(v.SerialLog)
	if !strings.Contains(string(serial), "GPT partition table") {
		t.Error("the serial log does not say what was found on the disk")
	}
	if err := v.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	f, _ = os.Open(disk)
	f.ReadAt(b, 512)
	f.Close()
	if string(b) != "EFI PART" {
		t.Fatal("the disk was modified")
	}
}
