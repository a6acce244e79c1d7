//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// linuxUser is a normal user made for the test, who runs the installed
// package with nothing set but what a login gives.
type linuxUser struct {
	t            *testing.T
	name         string
	uid, gid     int
	home, runDir string
}

func newLinuxUser(t *testing.T, name string) *linuxUser {
	if os.Geteuid() != 0 {
		t.Skip("making a user needs root")
	}
	dropUser(name)
	args := []string{"--create-home", "--shell", "/bin/bash"}
	// Where the host has /dev/kvm the user may open it, as a developer in
	// the kvm group would: a KVM that does not work must then be caught.
	if _, err := user.LookupGroup("kvm"); err == nil {
		args = append(args, "--groups", "kvm")
	}
	if out, err := exec.Command("useradd", append(args, name)...).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v\n%s", err, out)
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	l := &linuxUser{t: t, name: name, home: u.HomeDir}
	l.uid, _ = strconv.Atoi(u.Uid)
	l.gid, _ = strconv.Atoi(u.Gid)
	// What systemd-logind makes at login.
	l.runDir = filepath.Join("/run/user", u.Uid)
	os.MkdirAll(l.runDir, 0o700)
	os.Chown(l.runDir, l.uid, l.gid)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := l.runErr("berth", "logs", "-n", "60")
			t.Logf("berth logs of %s:\n%s", name, out)
		}
		l.runErr("berth", "stop", "--force")
		dropUser(name)
		os.RemoveAll(l.runDir)
	})
	return l
}

// dropUser ends a user's processes (Berth's daemon, the session libvirtd,
// virtlogd, QEMU) and removes the user with its home.
func dropUser(name string) {
	if _, err := user.Lookup(name); err != nil {
		return
	}
	for i := 0; i < 50 && exec.Command("pgrep", "-u", name).Run() == nil; i++ {
		exec.Command("pkill", "-KILL", "-u", name).Run()
		time.Sleep(100 * time.Millisecond)
	}
	exec.Command("userdel", "--remove", name).Run()
}

// runErr runs a command as the user with a login's environment only: no
// /usr/sbin on PATH, no BERTH_* variables.
func (l *linuxUser) runErr(args ...string) (string, error) {
	env := []string{
		"HOME=" + l.home, "USER=" + l.name, "LOGNAME=" + l.name, "SHELL=/bin/bash",
		"PATH=/usr/local/bin:/usr/bin:/bin", "XDG_RUNTIME_DIR=" + l.runDir, "LANG=C.UTF-8",
	}
	cmd := exec.Command("runuser", append([]string{"-u", l.name, "--", "env", "-i"}, append(env, args...)...)...)
	cmd.Dir = l.home
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (l *linuxUser) run(args ...string) string {
	l.t.Helper()
	out, err := l.runErr(args...)
	if err != nil {
		l.t.Fatalf("%s as %s: %v\n%s", strings.Join(args, " "), l.name, err, out)
	}
	return out
}

// Berth as a Linux user gets it: the .deb installed with apt, then a normal
// user with nothing configured starts Berth (the session libvirtd is started
// for them, the guest is found where the package put it), binds a folder of
// their home (files land as theirs), uses a named volume and a published
// port, stops; removing the package leaves their data disk.
func TestLinuxUserPackage(t *testing.T) {
	deb := os.Getenv("BERTH_DEB")
	if deb == "" {
		t.Fatal("BERTH_DEB is not set: run `make e2e`")
	}
	if out, err := exec.Command("apt-get", "install", "-y", "-q", "--reinstall", deb).CombinedOutput(); err != nil {
		t.Fatalf("apt-get install %s: %v\n%s", deb, err, out)
	}
	t.Cleanup(func() { exec.Command("apt-get", "remove", "-y", "-q", "berth").Run() })
	for _, f := range []string{"/usr/bin/berth", "/usr/bin/berth-gui", "/usr/lib/berth/guest/amd64/system.img"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("the package did not install %s: %v", f, err)
		}
	}
	u := newLinuxUser(t, "berthe2e")
	if out, err := u.runErr("pgrep", "-u", u.name, "libvirtd"); err == nil {
		t.Fatalf("a session libvirtd already runs for the new user: %s", out)
	}

	start := time.Now()
	out := u.run("berth", "start")
	cold := time.Since(start)
	t.Logf("BOOT berth start as a normal user (cold, first boot, installed package) %.1fs to docker-ready\n%s", cold.Seconds(), out)
	if fb := regexp.MustCompile(`(?m)^\s*([0-9.]+)s\s+KVM does not work.*$`).FindStringSubmatch(out); fb != nil {
		t.Logf("KVM did not work: fell back to emulation %ss after berth start", fb[1])
	}
	if !strings.Contains(out, "Berth is running") {
		t.Fatalf("berth start: %s", out)
	}
	if out := u.run("pgrep", "-u", u.name, "-x", "libvirtd"); out == "" {
		t.Fatal("no session libvirtd for the user")
	}

	// A bind of a folder in the user's home: what the container writes is
	// the user's on the host.
	proj := filepath.Join(u.home, "proj")
	u.run("mkdir", "-p", proj)
	u.run("docker", "--context", "berth", "run", "--rm", "-v", proj+":/src", "berth/welcome",
		"sh", "-c", "echo made-in-container > /src/out.txt && mkdir /src/sub")
	for _, f := range []string{"out.txt", "sub"} {
		fi, err := os.Stat(filepath.Join(proj, f))
		if err != nil {
			t.Fatalf("the container's %s is not in the user's folder: %v", f, err)
		}
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != u.uid || int(st.Gid) != u.gid {
			t.Fatalf("%s is owned by %d:%d, want the user %d:%d", f, st.Uid, st.Gid, u.uid, u.gid)
		}
	}

	// A named volume keeps what a container wrote for the next one.
	u.run("docker", "--context", "berth", "volume", "create", "userdata")
	u.run("docker", "--context", "berth", "run", "--rm", "-v", "userdata:/data", "berth/welcome", "sh", "-c", "echo kept > /data/f")
	if got := u.run("docker", "--context", "berth", "run", "--rm", "-v", "userdata:/data", "berth/welcome", "cat", "/data/f"); got != "kept" {
		t.Fatalf("volume read back %q", got)
	}

	// A published port answers on the host's 127.0.0.1.
	u.run("docker", "--context", "berth", "run", "-d", "--name", "userweb", "-p", "18280:80", "berth/welcome")
	if _, err := waitPort("127.0.0.1:18280", true, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if code, err := httpStatus("http://127.0.0.1:18280/"); err != nil || code != 200 {
		t.Fatalf("GET 127.0.0.1:18280: %d %v", code, err)
	}

	u.run("berth", "stop")
	disk := filepath.Join(u.home, ".local", "share", "berth", "data.img")
	before, err := os.Stat(disk)
	if err != nil {
		t.Fatalf("no data disk where a user's data goes: %v", err)
	}
	if st := before.Sys().(*syscall.Stat_t); int(st.Uid) != u.uid {
		t.Fatalf("data disk owned by %d", st.Uid)
	}
	if out, err := exec.Command("apt-get", "remove", "-y", "-q", "berth").CombinedOutput(); err != nil {
		t.Fatalf("apt-get remove berth: %v\n%s", err, out)
	}
	after, err := os.Stat(disk)
	if err != nil || after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		t.Fatalf("removing the package touched the data disk: %v (%v -> %v)", err, before, after)
	}
	if _, err := os.Stat("/usr/bin/berth"); err == nil {
		t.Fatal("berth is still installed after apt-get remove")
	}
}
