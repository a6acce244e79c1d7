//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthvm/berth/app/settings"
)

// hostRoot is a Debian 13 host inside this one: the root filesystem of
// packaging/host/recipe.json (built by `make e2e` with Berth's own Go
// image builder, nothing run at install), unpacked, and made the root of a
// mount namespace of its own by pivot_root (a chroot would do for most,
// but the kernel refuses user namespaces to a chrooted process, and a
// normal user's virtiofsd needs one), with /proc, /sys and /dev as on the
// host, a tmpfs /run, and its own libvirtd. It shares the host's network,
// so its published ports answer on the host's 127.0.0.1.
type hostRoot struct {
	t      *testing.T
	dir    string
	holder *exec.Cmd // keeps the namespace; commands enter it by its pid
}

func newHostRoot(t *testing.T, tarPath, guestDir, berthBin string) *hostRoot {
	// Under a directory of its own that others may traverse: QEMU runs
	// as the user there.
	base, err := os.MkdirTemp("", "berth-d13host-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	h := &hostRoot{t: t, dir: filepath.Join(base, "root")}
	os.Mkdir(h.dir, 0o755)
	began := time.Now()
	if out, err := exec.Command("tar", "-xpf", tarPath, "--numeric-owner", "-C", h.dir).CombinedOutput(); err != nil {
		t.Fatalf("unpack the Debian 13 root %s: %v\n%s", tarPath, err, out)
	}
	// What udev does on a real host: /dev/kvm belongs to the root's kvm
	// group (libvirt-qemu is a member). The device is the host's, so the
	// group takes the device's id. Without it, libvirt finds KVM usable
	// as root but not for its QEMU user and probes QEMU again on every
	// call, which made a start as root take minutes.
	if fi, err := os.Stat("/dev/kvm"); err == nil {
		gid := fi.Sys().(*syscall.Stat_t).Gid
		g := filepath.Join(h.dir, "etc", "group")
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		b = regexp.MustCompile(`(?m)^kvm:x:\d+:`).ReplaceAll(b, []byte(fmt.Sprintf("kvm:x:%d:", gid)))
		if err := os.WriteFile(g, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// libvirt's private /dev for each QEMU (qemu.conf namespaces, on by
	// default) cannot be built in this nested root: QEMU then finds no
	// /dev/urandom. A Debian 13 machine has it; here QEMU uses the root's /dev.
	if err := os.WriteFile(filepath.Join(h.dir, "etc/libvirt/qemu.conf"), []byte("namespaces = [ ]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	copyExec(t, berthBin, filepath.Join(h.dir, "usr/bin/berth"))
	// The host's docker CLI (static) drives the engine from inside.
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Fatal(err)
	}
	copyExec(t, docker, filepath.Join(h.dir, "usr/local/bin/docker"))
	t.Logf("Debian 13 root unpacked in %.1fs", time.Since(began).Seconds())

	script := `set -e
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
R=$1
mount --bind "$R" "$R"
mount -t proc proc "$R/proc"
mount --rbind /sys "$R/sys"
mount --rbind /dev "$R/dev"
mount -t tmpfs -o mode=0755 tmpfs "$R/run"
mkdir -p "$R/run/libvirt" "$R/run/user" "$R/run/lock"
mount --bind "$2" "$R/usr/lib/berth/guest/amd64"
mount -o remount,bind,ro "$R/usr/lib/berth/guest/amd64"
mkdir -p "$R/.oldroot"
cd "$R"
pivot_root . .oldroot
cd /
umount -l /.oldroot
rmdir /.oldroot
echo ready
exec sleep infinity
`
	h.holder = exec.Command("unshare", "--mount", "--propagation", "private", "--", "bash", "-c", script, "holder", h.dir, guestDir)
	out, err := h.holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	h.holder.Stderr = &stderr
	if err := h.holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.close)
	if line, _ := bufio.NewReader(out).ReadString('\n'); strings.TrimSpace(line) != "ready" {
		h.holder.Wait()
		t.Fatalf("entering the Debian 13 root: %s", stderr.String())
	}
	go io.Copy(io.Discard, out)

	// libvirt's daemons as a Debian 13 machine starts them (systemd's
	// units run these with the same flags).
	h.root("virtlogd", "-d")
	h.root("libvirtd", "-d")
	for i := 0; ; i++ {
		v, err := h.rootErr("virsh", "-c", "qemu:///system", "version")
		if err == nil {
			t.Logf("Debian 13 host: %s; %s", strings.Join(strings.Fields(strings.ReplaceAll(v, "\n", "; ")), " "),
				strings.TrimSpace(h.root("/usr/libexec/virtiofsd", "--version")))
			break
		}
		if i == 100 {
			t.Fatalf("libvirtd in the Debian 13 root does not answer: %v\n%s", err, v)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return h
}

func copyExec(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(to), 0o755)
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// enter is the command line that runs args in the root, as uid:gid with
// the user's groups (root if uid is 0), with only env.
func (h *hostRoot) enter(uid, gid int, env []string, args ...string) *exec.Cmd {
	a := []string{"-t", strconv.Itoa(h.holder.Process.Pid), "-m", "-r", "-w", "--"}
	if uid != 0 {
		a = append(a, "setpriv", "--reuid", strconv.Itoa(uid), "--regid", strconv.Itoa(gid), "--init-groups")
	}
	a = append(a, "env", "-i")
	a = append(a, env...)
	return exec.Command("nsenter", append(a, args...)...)
}

func (h *hostRoot) rootErr(args ...string) (string, error) {
	out, err := h.enter(0, 0, []string{"PATH=/usr/local/bin:/usr/bin:/usr/sbin", "HOME=/root", "LANG=C.UTF-8"}, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (h *hostRoot) root(args ...string) string {
	h.t.Helper()
	out, err := h.rootErr(args...)
	if err != nil {
		h.t.Fatalf("%s in the Debian 13 root: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// close ends every process of the root's namespace (all started by this
// test: libvirtd, the user's session daemon, Berth's daemons, QEMU,
// virtiofsd), QEMU first, then the namespace holder.
func (h *hostRoot) close() {
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", h.holder.Process.Pid))
	if err == nil {
		for _, first := range []bool{true, false} {
			ents, _ := os.ReadDir("/proc")
			for _, e := range ents {
				pid, err := strconv.Atoi(e.Name())
				if err != nil || pid == h.holder.Process.Pid {
					continue
				}
				if m, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid)); m != ns {
					continue
				}
				comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
				if first == strings.HasPrefix(string(comm), "qemu-system") {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			time.Sleep(time.Second)
		}
	}
	h.holder.Process.Kill()
	h.holder.Wait()
}

// hostCase is one way of running Berth: a host stack and a user.
type hostCase struct {
	name string
	run  func(args ...string) (string, error)
	// share is a folder Berth shares, as Berth sees it; hostShare the same
	// folder as this test sees it.
	share, hostShare string
	port             int
	who              string // the user Berth runs as (ps -u)
	qemuLog          string // libvirt's log of the machine's QEMU, as this test sees it
}

// hostResult is what one case measured.
type hostResult struct {
	start     time.Duration
	uid, gid  uint32
	virtiofsd []string // the command lines serving the share
	qemu      string   // what libvirt gave QEMU: vCPUs, free page reporting
}

var (
	smpArg      = regexp.MustCompile(`-smp (\d+)`)
	qemuMachine = regexp.MustCompile(`-machine (pc-q35-[0-9.]+)`)
)

// qemuFacts reads the last start's QEMU command line in libvirt's log.
func qemuFacts(log string) string {
	b, err := os.ReadFile(log)
	if err != nil {
		return err.Error()
	}
	if i := strings.LastIndex(string(b), "starting up"); i >= 0 {
		b = b[i:]
	}
	smp, machine := smpArg.FindSubmatch(b), qemuMachine.FindSubmatch(b)
	if smp == nil || machine == nil {
		return "no QEMU command line in " + log
	}
	return fmt.Sprintf("%s, %s vCPUs, free page reporting %v", machine[1], smp[1], strings.Contains(string(b), `"free-page-reporting":true`))
}

// sharedDir finds the folder on a virtiofsd command line, the C one's or
// the Rust one's.
var sharedDir = regexp.MustCompile(`virtiofsd .*(?:source=|--shared-dir )(/\S*)`)

// exercise runs Berth's start, a share written by a non-root container
// user, a published port and stop.
func (c hostCase) exercise(t *testing.T) hostResult {
	t.Helper()
	must := func(args ...string) string {
		t.Helper()
		out, err := c.run(args...)
		if err != nil {
			if logs, err := c.run("berth", "logs", "-n", "60"); err == nil {
				t.Logf("%s: berth logs:\n%s", c.name, logs)
			}
			t.Fatalf("%s: %s: %v\n%s", c.name, strings.Join(args, " "), err, out)
		}
		return out
	}
	var r hostResult
	began := time.Now()
	out := must("berth", "start")
	r.start = time.Since(began)
	t.Logf("%s: berth start %.1fs\n%s", c.name, r.start.Seconds(), out)
	t.Logf("%s: berth status:\n%s", c.name, must("berth", "status"))
	// The virtiofsd serving the folder, as Berth ran it for this user
	// (for root, other tests' machines' may be among them).
	if ps, err := c.run("ps", "-u", c.who, "-o", "args="); err == nil {
		seen := map[string]bool{}
		for _, l := range strings.Split(ps, "\n") {
			m := sharedDir.FindStringSubmatch(l)
			if l = strings.TrimSpace(l); m != nil && strings.HasPrefix(c.share, m[1]+"/") && !seen[l] {
				seen[l] = true
				r.virtiofsd = append(r.virtiofsd, l)
			}
		}
	}
	t.Logf("%s: virtiofsd: %s", c.name, strings.Join(r.virtiofsd, " | "))
	r.qemu = qemuFacts(c.qemuLog)
	t.Logf("%s: QEMU: %s", c.name, r.qemu)

	// A container user other than root writes on a shared folder.
	must("docker", "--context", "berth", "run", "--rm", "--user", "1000:1000", "-v", c.share+":/s", "berth/welcome",
		"sh", "-c", "echo written-by-1000 > /s/by1000")
	fi, err := os.Stat(filepath.Join(c.hostShare, "by1000"))
	if err != nil {
		t.Fatalf("%s: the container's file is not on the host: %v", c.name, err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	r.uid, r.gid = st.Uid, st.Gid

	// A published port answers on the host.
	must("docker", "--context", "berth", "run", "-d", "--name", "d13web", "-p", fmt.Sprintf("%d:80", c.port), "berth/welcome")
	addr := fmt.Sprintf("127.0.0.1:%d", c.port)
	if _, err := waitPort(addr, true, 60*time.Second); err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	// The host's port opens when the engine publishes it, which can be
	// before the container's server listens: a connection then is reset.
	code, err := httpStatus("http://" + addr + "/")
	for deadline := time.Now().Add(30 * time.Second); (err != nil || code != 200) && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		code, err = httpStatus("http://" + addr + "/")
	}
	if err != nil || code != 200 {
		t.Fatalf("%s: GET %s for 30 s: %d %v", c.name, addr, code, err)
	}
	must("docker", "--context", "berth", "rm", "-f", "d13web")
	must("berth", "stop")
	if out := must("berth", "status"); !strings.Contains(out, "stopped") {
		t.Fatalf("%s: after berth stop: %s", c.name, out)
	}
	return r
}

// worldDir makes a directory others may traverse, and in it a folder any
// container user may write.
func worldDir(t *testing.T) (dir, share string) {
	dir, err := os.MkdirTemp("", "berth-d12host-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	share = filepath.Join(dir, "share")
	os.Mkdir(share, 0o777)
	os.Chmod(share, 0o777)
	return dir, share
}

// TestDebian13Host runs Berth on a Debian 13 host stack (QEMU 10.0,
// libvirt 11.3, the Rust virtiofsd 1.13) as root and as a normal user —
// start, a share a non-root container user writes on, a published port,
// stop — and times the same starts on this Debian 12 host (QEMU 7.2,
// libvirt 9.0, QEMU's C virtiofsd) in the same run. A normal user's
// files written by container user 1000 land as the user on Debian 13
// (virtiofsd translates ids), as one of the user's subordinate ids on
// Debian 12.
func TestDebian13Host(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("entering a root filesystem and making users needs root")
	}
	tarPath, guest, bin := os.Getenv("BERTH_HOST13_ROOT"), os.Getenv("BERTH_GUEST_DIR"), os.Getenv("BERTH_BIN")
	if tarPath == "" || guest == "" || bin == "" {
		t.Fatal("BERTH_HOST13_ROOT, BERTH_GUEST_DIR or BERTH_BIN is not set: run `make e2e`")
	}

	// Debian 12 (this host), as root.
	d12root := newBerthEnv(t)
	_, rootShare := worldDir(t)
	d12r := hostCase{name: "Debian 12, root", share: rootShare, hostShare: rootShare, port: 18613, who: "root",
		qemuLog: filepath.Join("/var/log/libvirt/qemu", d12root.paths().VMName()+".log"),
		run: func(args ...string) (string, error) {
			switch args[0] {
			case "berth":
				return d12root.berthErr(args[1:]...)
			case "docker":
				return d12root.dockerErr(args[3:]...) // after "docker --context berth"
			}
			out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
			return strings.TrimSpace(string(out)), err
		}}

	// Debian 12, as a normal user: Berth's binary and guest where the
	// user may read them.
	stage, _ := worldDir(t)
	copyExec(t, bin, filepath.Join(stage, "bin", "berth"))
	for _, f := range []string{"vmlinuz", "initrd.img", "system.img", "manifest.json"} {
		b, err := os.ReadFile(filepath.Join(guest, f))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(stage, "guest"), 0o755)
		if err := os.WriteFile(filepath.Join(stage, "guest", f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	u12 := newLinuxUser(t, "berthd12")
	u12share := filepath.Join(u12.home, "share")
	u12.run("mkdir", "-m", "0777", u12share)
	os.Chmod(u12share, 0o777)
	d12u := hostCase{name: "Debian 12, user", share: u12share, hostShare: u12share, port: 18614, who: u12.name,
		qemuLog: filepath.Join(u12.home, ".cache/libvirt/qemu/log/berth.log"),
		run: func(args ...string) (string, error) {
			if args[0] == "berth" {
				args = append([]string{"env", "BERTH_GUEST_DIR=" + filepath.Join(stage, "guest"), filepath.Join(stage, "bin", "berth")}, args[1:]...)
			}
			return u12.runErr(args...)
		}}

	// Debian 13, as root and as a user made there as useradd makes one
	// (with a subordinate id range).
	h := newHostRoot(t, tarPath, guest, bin)
	rootEnv := []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/root", "LANG=C.UTF-8", "BERTH_HOME=/root/berth-d13"}
	p13, err := settings.HomePaths("/root/berth-d13")
	if err != nil {
		t.Fatal(err)
	}
	d13vm := p13.VMName()
	h.root("mkdir", "-m", "0777", "/root/share")
	d13r := hostCase{name: "Debian 13, root", share: "/root/share", hostShare: filepath.Join(h.dir, "root/share"), port: 18615, who: "root",
		qemuLog: filepath.Join(h.dir, "var/log/libvirt/qemu", d13vm+".log"),
		run: func(args ...string) (string, error) {
			out, err := h.enter(0, 0, rootEnv, args...).CombinedOutput()
			return strings.TrimSpace(string(out)), err
		}}
	const user, uid = "berthd13", 2913 // an id no host user has, so the owner check cannot pass by chance
	// In the kvm group, as newLinuxUser makes the Debian 12 user: a KVM
	// that does not work must be caught there too.
	h.root("useradd", "--create-home", "--uid", strconv.Itoa(uid), "--user-group", "--groups", "kvm", "--shell", "/bin/bash", user)
	subuid := h.root("grep", "^"+user+":", "/etc/subuid")
	h.root("install", "-d", "-o", user, "-g", user, "-m", "0700", fmt.Sprintf("/run/user/%d", uid))
	h.root("install", "-d", "-o", user, "-g", user, "-m", "0777", "/home/"+user+"/share")
	userEnv := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/" + user, "USER=" + user, "LOGNAME=" + user,
		"SHELL=/bin/bash", fmt.Sprintf("XDG_RUNTIME_DIR=/run/user/%d", uid), "LANG=C.UTF-8"}
	d13u := hostCase{name: "Debian 13, user", share: "/home/" + user + "/share", hostShare: filepath.Join(h.dir, "home", user, "share"), port: 18616, who: user,
		qemuLog: filepath.Join(h.dir, "home", user, ".cache/libvirt/qemu/log/berth.log"),
		run: func(args ...string) (string, error) {
			out, err := h.enter(uid, uid, userEnv, args...).CombinedOutput()
			return strings.TrimSpace(string(out)), err
		}}
	t.Cleanup(func() {
		d13u.run("berth", "stop", "--force")
		d13r.run("berth", "stop", "--force")
		d12u.run("berth", "stop", "--force")
	})

	// Alternated, so that load from the tests beside this one falls on both.
	res := map[string]hostResult{}
	for _, c := range []hostCase{d12r, d13r, d12u, d13u} {
		res[c.name] = c.exercise(t)
		t.Logf("%s: container user 1000's file on the share is owned by %d:%d on the host", c.name, res[c.name].uid, res[c.name].gid)
	}
	t.Logf("D13HOST start: d12 root %.1fs, d12 user %.1fs, d13 root %.1fs, d13 user %.1fs; share owner of container uid 1000: d12 root %d, d12 user %d (user %d), d13 root %d, d13 user %d (user %d; subuid %s)",
		res[d12r.name].start.Seconds(), res[d12u.name].start.Seconds(), res[d13r.name].start.Seconds(), res[d13u.name].start.Seconds(),
		res[d12r.name].uid, res[d12u.name].uid, u12.uid, res[d13r.name].uid, res[d13u.name].uid, uid, subuid)

	for _, c := range []hostCase{d12r, d12u, d13r, d13u} {
		if !strings.Contains(res[c.name].qemu, "free page reporting true") {
			t.Errorf("%s: QEMU without free page reporting: %s", c.name, res[c.name].qemu)
		}
	}
	if v := strings.Join(res[d13u.name].virtiofsd, "\n"); !strings.Contains(v, "--translate-uid squash-guest:1:0:4294967294 --translate-gid squash-guest:1:0:4294967294") {
		t.Errorf("Debian 13, user: virtiofsd without the id translation: %q", v)
	}
	if got := res[d13u.name]; got.uid != uid || got.gid != uid {
		t.Errorf("Debian 13, user: container user 1000's file is owned by %d:%d, want the user %d:%d", got.uid, got.gid, uid, uid)
	}
	for _, c := range []hostCase{d12r, d13r} {
		if got := res[c.name]; got.uid != 1000 || got.gid != 1000 {
			t.Errorf("%s: container user 1000's file is owned by %d:%d, want 1000:1000 as with docker on Linux", c.name, got.uid, got.gid)
		}
	}
	if got := res[d12u.name]; got.uid == uint32(u12.uid) || got.uid == 0 {
		t.Errorf("Debian 12, user: container user 1000's file is owned by %d; the C virtiofsd cannot translate, a subordinate id was expected", got.uid)
	}
}
