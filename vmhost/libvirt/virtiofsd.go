package libvirt

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/berthvm/berth/vmhost"
)

// Berth runs virtiofsd itself, one per share, and hands QEMU its socket as a
// vhost-user device, rather than asking libvirt to run it: libvirt 9.0
// (Debian 12) refuses virtiofs in session mode, and the session is how a
// normal user runs Berth. libvirt 11.3 (Debian 13) accepts it, and runs the
// Rust virtiofsd with an <idmap> it fills from /etc/subuid
// (--uid-map=:0:UID:1: --uid-map=:1:SUBUID:65536:): a user namespace's 1:1
// map, so container users other than root would still land as subordinate
// ids, and libvirt cannot pass --translate-uid. So Berth keeps its own
// virtiofsd on every version. For such a user virtiofsd runs in a user namespace with the
// user's subordinate ids (`unshare --map-auto --map-root-user`): QEMU's C
// virtiofsd needs to be root there to switch ids, and the guest's root then
// writes files as the user on the host. The Rust virtiofsd (1.11 and later;
// Debian 13 has 1.13) also translates ids itself: there every guest user
// but root is squashed to the namespace's root too, so what any container
// user writes lands as the user, not as one of the user's subordinate ids.

// virtiofsd is how to run the installed virtiofsd.
type virtiofsd struct {
	Path string
	Rust bool // the Rust virtiofsd's flags; else QEMU's C one's
	// Translate: it maps ids itself (--translate-uid/--translate-gid).
	Translate bool
	// Unshare runs it in a user namespace (a normal user); empty for root.
	Unshare string
	Files   uint64 // open-files limit to ask for; 0 leaves it
	Tuning  ShareTuning
}

// ShareTuning is how virtiofsd serves a share; the zero value is Berth's
// choice (README "Shared folders"). Other values are for measuring the
// alternatives (make bench-share).
type ShareTuning struct {
	// Cache is virtiofsd's cache mode: auto (the default), always or none.
	Cache string
	// Threads is virtiofsd's worker pool; 0 keeps virtiofsd's default.
	Threads int
	// Writeback lets the guest cache writes (FUSE writeback caching).
	Writeback bool
}

// ParseShareTuning reads "cache=MODE,threads=N,writeback" (any of them, in
// any order; empty for the default).
func ParseShareTuning(s string) (ShareTuning, error) {
	var t ShareTuning
	for _, f := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		switch k {
		case "":
		case "cache":
			if v != "auto" && v != "always" && v != "none" {
				return t, fmt.Errorf("virtiofs cache %q: want auto, always or none", v)
			}
			t.Cache = v
		case "threads":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1024 {
				return t, fmt.Errorf("virtiofs threads %q: want 1 to 1024", v)
			}
			t.Threads = n
		case "writeback":
			t.Writeback = true
		default:
			return t, fmt.Errorf("virtiofs option %q: want cache=auto|always|none, threads=N or writeback", f)
		}
	}
	return t, nil
}

// virtiofsdPaths are where distributions install virtiofsd: the Rust one
// (Debian 13, Fedora, Arch) and QEMU's older C one (Debian 12, Ubuntu 22.04).
var virtiofsdPaths = []string{"/usr/libexec/virtiofsd", "/usr/lib/virtiofsd", "/usr/lib/qemu/virtiofsd", "/usr/bin/virtiofsd"}

// newVirtiofsd finds virtiofsd and what it needs to run as uid.
func newVirtiofsd(uid int) (virtiofsd, error) {
	v := virtiofsd{Path: firstExecutable(virtiofsdPaths)}
	if v.Path == "" {
		return v, fmt.Errorf("no virtiofsd is installed (looked in %v): install the virtiofsd package (Debian 12: qemu-system-common), or share folders over 9p with BERTH_SHARE_FS=9p and the generic-kernel guest", virtiofsdPaths)
	}
	help, _ := exec.Command(v.Path, "--help").CombinedOutput()
	v.Rust, v.Translate = virtiofsdKind(help)
	if hard, ok := hardFileLimit(); ok {
		v.Files = hard
	}
	if uid == 0 {
		return v, nil
	}
	var err error
	if v.Unshare, err = exec.LookPath("unshare"); err != nil {
		return v, errors.New("shared folders need `unshare` (util-linux) to run virtiofsd as you")
	}
	if _, err := exec.LookPath("newuidmap"); err != nil {
		if _, err := os.Stat("/usr/bin/newuidmap"); err != nil {
			return v, errors.New("shared folders need newuidmap to run virtiofsd as you: `sudo apt-get install uidmap`")
		}
	}
	return v, nil
}

// virtiofsdKind says from its --help which virtiofsd is installed: the
// Rust one (its --shared-dir), and whether it translates ids itself
// (--translate-uid, virtiofsd 1.11 and later).
func virtiofsdKind(help []byte) (rust, translate bool) {
	rust = bytes.Contains(help, []byte("--shared-dir"))
	return rust, rust && bytes.Contains(help, []byte("--translate-uid"))
}

// squashGuest maps every guest id but root (1 to 2^32-2: -1 is no id) to
// the id virtiofsd runs as in its user namespace, the user's own.
const squashGuest = "squash-guest:1:0:4294967294"

// args is virtiofsd's command line for a share served on descriptor 3.
func (v virtiofsd) args(sh vmhost.Share) []string {
	var a []string
	if v.Unshare != "" {
		a = append(a, v.Unshare, "--user", "--map-auto", "--map-root-user", "--")
	}
	a = append(a, v.Path, "--fd=3")
	if v.Rust {
		cache := cmp.Or(v.Tuning.Cache, "auto")
		if cache == "none" {
			cache = "never" // the Rust one's name for it
		}
		a = append(a, "--shared-dir", sh.HostPath, "--sandbox", "namespace", "--cache", cache)
		if v.Tuning.Threads > 0 {
			a = append(a, "--thread-pool-size", strconv.Itoa(v.Tuning.Threads))
		}
		if v.Tuning.Writeback {
			a = append(a, "--writeback")
		}
		if sh.ReadOnly {
			a = append(a, "--readonly")
		}
		if v.Files > 0 {
			a = append(a, "--rlimit-nofile", strconv.FormatUint(v.Files, 10))
		}
		// In the user namespace root is the user and ids 1 and up the
		// user's subordinate ids, which the user cannot read back as
		// theirs: files of container users other than root land as the user.
		if v.Unshare != "" && v.Translate {
			a = append(a, "--translate-uid", squashGuest, "--translate-gid", squashGuest)
		}
		return a
	}
	// The C virtiofsd cannot export read-only: the guest mounts such a
	// share read-only. Its pid file lives in /run, which a user may not
	// write; with --fd it keeps none.
	a = append(a, "-o", "source="+sh.HostPath, "-o", "sandbox=namespace", "-o", "cache="+cmp.Or(v.Tuning.Cache, "auto"))
	if v.Tuning.Threads > 0 {
		a = append(a, "--thread-pool-size="+strconv.Itoa(v.Tuning.Threads))
	}
	if v.Tuning.Writeback {
		a = append(a, "-o", "writeback")
	}
	if v.Files > 0 {
		a = append(a, "--rlimit-nofile="+strconv.FormatUint(v.Files, 10))
	}
	return a
}

// shareSocket is where QEMU finds a share's virtiofsd.
func shareSocket(dir, tag string) string { return filepath.Join(dir, "vfs-"+tag+".sock") }

// fsDaemons are the virtiofsd processes of one machine.
type fsDaemons struct {
	mu    sync.Mutex
	procs []*fsDaemon
}

type fsDaemon struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer // guarded by the process: read only after done
	done   chan struct{}
	share  vmhost.Share
	ended  atomic.Bool // stop ended it: its exit is no news
}

// start runs one virtiofsd per share on a socket in dir. Each serves one
// QEMU connection and exits when QEMU goes.
func (f *fsDaemons) start(v virtiofsd, dir string, shares []vmhost.Share, log *slog.Logger) error {
	f.stop()
	for _, sh := range shares {
		if err := f.startOne(v, dir, sh, log); err != nil {
			f.stop()
			return err
		}
	}
	return nil
}

func (f *fsDaemons) startOne(v virtiofsd, dir string, sh vmhost.Share, log *slog.Logger) error {
	path := shareSocket(dir, sh.Tag)
	os.Remove(path)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("shared folder %s: %w", sh.HostPath, err)
	}
	defer l.Close() //nolint:errcheck // virtiofsd holds its own copy
	l.SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	lf, err := l.File()
	if err != nil {
		return err
	}
	defer lf.Close()
	args := v.args(sh)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.ExtraFiles = []*os.File{lf}
	d := &fsDaemon{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan struct{}), share: sh}
	cmd.Stderr = &limitedWriter{w: d.stderr, n: 16 << 10}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("shared folder %s: start virtiofsd: %w", sh.HostPath, err)
	}
	log.Debug("virtiofsd started", "share", sh.HostPath, "pid", cmd.Process.Pid, "args", args)
	go func() {
		err := cmd.Wait()
		close(d.done)
		// It exits 0 when QEMU goes. Otherwise the guest's requests to the
		// share wait for ever (vhost-user-fs has no reconnect), and this
		// is the one place that says why.
		if err != nil && !d.ended.Load() {
			log.Error("virtiofsd failed while its VM may be running: the shared folder no longer answers in the VM, and what uses it there hangs; run berth restart",
				"share", sh.HostPath, "err", err, "stderr", d.lastWords())
		}
	}()
	f.mu.Lock()
	f.procs = append(f.procs, d)
	f.mu.Unlock()
	return nil
}

// lastWords is the end of what it printed; read only after done.
func (d *fsDaemon) lastWords() string { return strings.TrimSpace(lastLines(d.stderr.String(), 3)) }

// states says which virtiofsds exited, each with what it printed last
// (after QEMU could not start, this is usually why), and for which shares
// one still runs.
func (f *fsDaemons) states() (exited, running []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range f.procs {
		select {
		case <-d.done:
			exited = append(exited, fmt.Sprintf("virtiofsd for %s exited: %s", d.share.HostPath, d.lastWords()))
		default:
			running = append(running, d.share.HostPath)
		}
	}
	return exited, running
}

// stop ends every virtiofsd still running.
func (f *fsDaemons) stop() {
	f.mu.Lock()
	procs := f.procs
	f.procs = nil
	f.mu.Unlock()
	for _, d := range procs {
		d.ended.Store(true)
		select {
		case <-d.done:
		default:
			d.cmd.Process.Kill()
			<-d.done
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}

// limitedWriter keeps the first n bytes and drops the rest.
type limitedWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k]) //nolint:errcheck // a log line lost with a failing log
		l.n -= k
	}
	return len(p), nil
}
