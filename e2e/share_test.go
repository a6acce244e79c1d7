//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Host folders in containers under libvirt+QEMU: the same paths in the VM,
// both directions, owners and modes, awkward names, large and many files,
// read-only shares, the refusal of unshared paths, and the engine socket.
// virtiofs on the shipped image; 9p, the fallback, on the generic kernel's
// image (BERTH_GUEST_DIR_GENERIC), the only one with 9p.
func TestFileSharing(t *testing.T) {
	t.Parallel() // its own home and VM: see reliabilityMachine
	t.Run("virtiofs", func(t *testing.T) { fileSharing(t, "virtiofs", os.Getenv("BERTH_GUEST_DIR")) })
	t.Run("9p", func(t *testing.T) {
		dir := os.Getenv("BERTH_GUEST_DIR_GENERIC")
		if dir == "" {
			t.Skip("BERTH_GUEST_DIR_GENERIC is not set: run `make e2e`")
		}
		fileSharing(t, "9p", dir)
	})
}

func fileSharing(t *testing.T, fs, guestDir string) {
	e := newBerthEnv(t)
	e.extraEnv = []string{"BERTH_SHARE_FS=" + fs, "BERTH_GUEST_DIR=" + guestDir}
	image := buildBusybox(t)
	dir := t.TempDir()
	share := filepath.Join(dir, "proj ünï") // a space and non-ASCII in the share's own path
	ro := filepath.Join(dir, "readonly")
	unshared := filepath.Join(dir, "unshared")
	for _, d := range []string{share, ro, unshared} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	home, _ := os.UserHomeDir()
	// The defaults (home and temp) would cover the test folders: share only these.
	e.berth("start", "--cpus", "2", "--memory", "2", "--disk", "16",
		"--unmount", home, "--unmount", os.TempDir(), "--mount", share, "--mount", ro+":ro")
	if st := e.status(); len(st.Shares) != 2 || st.Shares[1].HostPath != share && st.Shares[0].HostPath != share {
		t.Fatalf("status shares: %+v", st.Shares)
	}
	e.docker("load", "-i", image)
	if mounts := e.berth("shell", "cat", "/proc/mounts"); !strings.Contains(mounts, " "+fs+" ") {
		t.Fatalf("no %s mount in the VM:\n%s", fs, mounts)
	}
	run := func(args ...string) string {
		t.Helper()
		return e.docker(append([]string{"run", "--rm", "-v", share + ":/data", "-v", ro + ":/ro"}, append([]string{testImage, "sh", "-c"}, args...)...)...)
	}

	t.Run("host to container", func(t *testing.T) {
		name := "héllo wörld.txt"
		if err := os.WriteFile(filepath.Join(share, name), []byte("from the host\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(name, filepath.Join(share, "link")); err != nil {
			t.Fatal(err)
		}
		if got := run(`cat "/data/héllo wörld.txt" && cat /data/link && echo appended >> /data/link`); got != "from the host\nfrom the host" {
			t.Fatalf("container read %q", got)
		}
		if b, _ := os.ReadFile(filepath.Join(share, name)); string(b) != "from the host\nappended\n" {
			t.Fatalf("host file after the container's append: %q", b)
		}
	})

	t.Run("container to host", func(t *testing.T) {
		run(`mkdir -m 0705 /data/made && echo hi > /data/made/f && chmod 0640 /data/made/f && ln -s made/f /data/made-link`)
		for path, mode := range map[string]os.FileMode{"made": 0o705 | os.ModeDir, "made/f": 0o640} {
			fi, err := os.Lstat(filepath.Join(share, path))
			if err != nil {
				t.Fatal(err)
			}
			st := fi.Sys().(*syscall.Stat_t)
			if fi.Mode() != mode || int(st.Uid) != os.Getuid() || int(st.Gid) != os.Getgid() {
				t.Errorf("%s on the host: mode %v uid %d gid %d; want %v, owned by %d:%d", path, fi.Mode(), st.Uid, st.Gid, mode, os.Getuid(), os.Getgid())
			}
		}
		if target, err := os.Readlink(filepath.Join(share, "made-link")); err != nil || target != "made/f" {
			t.Errorf("symlink made in the container: %q %v", target, err)
		}
	})

	t.Run("many small files", func(t *testing.T) {
		run(`mkdir /data/many && cd /data/many && seq 1 2000 | xargs touch`)
		entries, err := os.ReadDir(filepath.Join(share, "many"))
		if err != nil || len(entries) != 2000 {
			t.Fatalf("host sees %d files, %v", len(entries), err)
		}
		for i := range 500 {
			os.WriteFile(filepath.Join(share, "many", "h"+strconv.Itoa(i)), nil, 0o644)
		}
		if got := run(`ls /data/many | wc -l`); got != "2500" {
			t.Fatalf("container sees %s files", got)
		}
	})

	t.Run("large file", func(t *testing.T) {
		// A byte past 5 GiB, from the container; the host writes another
		// past 4.5 GiB that the container reads back: 64-bit offsets both ways.
		run(`printf Z | dd of=/data/big bs=1 seek=5368709120 conv=notrunc 2>/dev/null`)
		f, err := os.OpenFile(filepath.Join(share, "big"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := make([]byte, 1)
		if fi, _ := f.Stat(); fi.Size() != 5<<30+1 {
			t.Fatalf("size on the host %d", fi.Size())
		}
		if _, err := f.ReadAt(b, 5<<30); err != nil || b[0] != 'Z' {
			t.Fatalf("host reads %q %v", b, err)
		}
		f.WriteAt([]byte("Q"), 9<<29)
		f.Sync()
		if got := run(`dd if=/data/big bs=1 skip=4831838208 count=1 2>/dev/null`); got != "Q" {
			t.Fatalf("container reads %q at 4.5 GiB", got)
		}
	})

	t.Run("read-only share", func(t *testing.T) {
		os.WriteFile(filepath.Join(ro, "r"), []byte("readable"), 0o644)
		out, err := e.dockerErr("run", "--rm", "-v", ro+":/ro", testImage, "sh", "-c", "cat /ro/r && touch /ro/new")
		if err == nil || !strings.Contains(out, "readable") || !strings.Contains(out, "Read-only file system") {
			t.Fatalf("write to a read-only share: %v\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(ro, "new")); err == nil {
			t.Fatal("the read-only share was written")
		}
	})

	t.Run("unshared path is refused", func(t *testing.T) {
		for _, args := range [][]string{
			{"-v", unshared + ":/x"},
			{"--mount", "type=bind,source=" + unshared + ",target=/x"},
		} {
			out, err := e.dockerErr(append(append([]string{"run", "--rm"}, args...), testImage, "true")...)
			if err == nil || !strings.Contains(out, unshared+" is not shared with the Berth VM") || !strings.Contains(out, "berth start --mount "+unshared) {
				t.Fatalf("unshared bind %v: %v\n%s", args, err, out)
			}
		}
		// --mount type=bind works like -v for shared paths.
		if got := e.docker("run", "--rm", "--mount", "type=bind,source="+ro+",target=/r,readonly", testImage, "cat", "/r/r"); got != "readable" {
			t.Fatalf("--mount of a shared path: %q", got)
		}
	})

	t.Run("engine socket and volumes are untouched", func(t *testing.T) {
		if got := e.docker("run", "--rm", "-v", "/var/run/docker.sock:/var/run/docker.sock", testImage, "sh", "-c", "test -S /var/run/docker.sock && echo socket"); got != "socket" {
			t.Fatalf("docker.sock bind: %q", got)
		}
		e.docker("run", "--rm", "-v", "named:/v", testImage, "touch", "/v/x")
	})

	t.Run("a dropped share is mounted again", func(t *testing.T) {
		e.berth("shell", "umount", share)
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(e.berth("shell", "cat", "/proc/mounts"), strings.ReplaceAll(share, " ", `\040`)) {
			if time.Now().After(deadline) {
				t.Fatal("share not mounted again within 30s")
			}
			time.Sleep(time.Second)
		}
		if got := run(`cat /data/made/f`); got != "hi" {
			t.Fatalf("after the remount: %q", got)
		}
	})
	e.berth("stop")
}
