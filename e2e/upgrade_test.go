//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The guest's engine upgrade (Debian 12's dockerd 20.10 to Debian 13's 26.1)
// keeps what users made: a data disk written by the previous image boots
// under the current one with its volume, its committed image and its
// stopped container intact.
func TestEngineUpgrade(t *testing.T) {
	t.Parallel() // its own home and VM: see reliabilityMachine
	oldDir := os.Getenv("BERTH_GUEST_DIR_BOOKWORM")
	if oldDir == "" {
		t.Fatal("BERTH_GUEST_DIR_BOOKWORM is not set: run `make e2e` (it builds the previous image with `make guest-image SUITE=bookworm`)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	state := t.TempDir()
	disk := filepath.Join(state, "data.img")
	busybox := buildBusybox(t)

	v := bootImage(t, ctx, oldDir, filepath.Join(state, "old"), disk)
	h, err := v.WaitReady(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("previous image: docker %s (API %s), containerd %s, kernel %s",
		h.Versions.Docker, h.Versions.DockerAPI, h.Versions.Containerd, h.Versions.Kernel)
	oldAPI := h.Versions.DockerAPI
	sock := v.DockerSock
	docker(t, sock, "load", "-i", busybox)
	docker(t, sock, "volume", "create", "kept")
	docker(t, sock, "run", "--rm", "-v", "kept:/data", testImage, "sh", "-c", "echo written-by-old > /data/file && sync")
	docker(t, sock, "run", "--name", "maker", testImage, "sh", "-c", "echo committed-by-old > /etc/upgrade")
	docker(t, sock, "commit", "maker", "berth/upgrade:old")
	docker(t, sock, "rm", "maker")
	docker(t, sock, "create", "--name", "stopped", "-v", "kept:/data", testImage, "cat", "/data/file")
	imageID := docker(t, sock, "image", "inspect", "--format", "{{.Id}}", "berth/upgrade:old")
	driver := docker(t, sock, "info", "--format", "{{.Driver}}")
	if err := v.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown of the previous image: %v", err)
	}
	assertCleanFilesystem(t, disk)

	v = boot(t, ctx, filepath.Join(state, "new"), disk)
	h, err = v.WaitReady(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("current image: docker %s (API %s), containerd %s, kernel %s",
		h.Versions.Docker, h.Versions.DockerAPI, h.Versions.Containerd, h.Versions.Kernel)
	if h.Versions.DockerAPI == oldAPI {
		t.Fatalf("both images run engine API %s: not an upgrade", oldAPI)
	}
	if h.DataDisk == nil || h.DataDisk.Formatted {
		t.Fatalf("the current image formatted the previous image's data disk: %+v", h.DataDisk)
	}
	if len(h.Problems) > 0 {
		t.Errorf("boot problems: %q", h.Problems)
	}
	sock = v.DockerSock
	// The same storage driver reads the same store (dockerd 26 would use
	// containerd's image store only if asked to).
	if got := docker(t, sock, "info", "--format", "{{.Driver}}"); got != driver {
		t.Errorf("storage driver %s, was %s", got, driver)
	}
	if got := docker(t, sock, "image", "inspect", "--format", "{{.Id}}", "berth/upgrade:old"); got != imageID {
		t.Errorf("the committed image's ID changed: %s, was %s", got, imageID)
	}
	if out := docker(t, sock, "run", "--rm", "berth/upgrade:old", "cat", "/etc/upgrade"); out != "committed-by-old" {
		t.Errorf("the committed image: %q", out)
	}
	if out := docker(t, sock, "run", "--rm", "-v", "kept:/data", testImage, "cat", "/data/file"); out != "written-by-old" {
		t.Errorf("the volume: %q", out)
	}
	if out := docker(t, sock, "start", "-a", "stopped"); out != "written-by-old" {
		t.Errorf("the stopped container: %q", out)
	}
	if err := v.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	assertCleanFilesystem(t, disk)
}
