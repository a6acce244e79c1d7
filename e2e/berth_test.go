//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/app/settings"
)

// berthEnv runs the real berth binary with a private home and docker config.
type berthEnv struct {
	t         *testing.T
	bin, home string
	dockerCfg string
	extraEnv  []string // VAR=value for berth and docker
}

func newBerthEnv(t *testing.T) *berthEnv {
	bin := os.Getenv("BERTH_BIN")
	if bin == "" {
		t.Fatal("BERTH_BIN is not set: run `make e2e`")
	}
	dir := t.TempDir()
	e := &berthEnv{t: t, bin: bin, home: filepath.Join(dir, "home"), dockerCfg: filepath.Join(dir, "docker")}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := e.berthErr("logs", "-n", "80")
			t.Logf("berth logs:\n%s", out)
		}
		e.berthErr("stop", "--force")
		// Each home has a VM of its own in the hypervisor: it goes too.
		e.berthErr("delete", "--force")
		// The daemon exits on SIGTERM; find it by its lock file.
		if b, err := os.ReadFile(filepath.Join(e.home, "run", "daemon.lock")); err == nil {
			var pid int
			fmt.Sscan(string(b), &pid)
			if pid > 0 {
				syscall.Kill(pid, syscall.SIGTERM)
			}
		}
	})
	return e
}

func (e *berthEnv) env() []string {
	return append(append(os.Environ(), "BERTH_HOME="+e.home, "DOCKER_CONFIG="+e.dockerCfg, "DOCKER_HOST=", "DOCKER_CONTEXT="), e.extraEnv...)
}

func (e *berthEnv) berthErr(args ...string) (string, error) {
	cmd := exec.Command(e.bin, args...)
	cmd.Env = e.env()
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (e *berthEnv) berth(args ...string) string {
	e.t.Helper()
	out, err := e.berthErr(args...)
	if err != nil {
		e.t.Fatalf("berth %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (e *berthEnv) dockerErr(args ...string) (string, error) {
	cmd := exec.Command("docker", append([]string{"--context", "berth"}, args...)...)
	cmd.Env = e.env()
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (e *berthEnv) docker(args ...string) string {
	e.t.Helper()
	out, err := e.dockerErr(args...)
	if err != nil {
		e.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// paths are where berth keeps this home's files (settings' own layout).
func (e *berthEnv) paths() settings.Paths {
	e.t.Helper()
	p, err := settings.HomePaths(e.home)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *berthEnv) status() control.Status {
	var st control.Status
	if err := json.Unmarshal([]byte(e.berth("status", "--json")), &st); err != nil {
		e.t.Fatal(err)
	}
	return st
}

// buildTestImage adds a static UDP echo server to the busybox image.
func buildTestImage(t *testing.T) string {
	return buildBusyboxWithTool(t, "udpecho")
}

func httpStatus(url string) (int, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func waitPort(addr string, open bool, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		if (err == nil) == open {
			return time.Since(start), nil
		}
		if time.Since(start) > limit {
			return 0, fmt.Errorf("%s open=%v after %v", addr, !open, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The host side end to end: berth start under libvirt, the user's docker
// CLI through the berth context, automatic port forwarding, volumes across
// a stop and start, streams, and a clean stop.
func TestBerthCLI(t *testing.T) {
	if _, err := os.Stat("/run/libvirt/libvirt-sock"); err != nil && os.Geteuid() == 0 {
		t.Fatal("libvirtd is not running: run `make deps`")
	}
	e := newBerthEnv(t)
	image := buildTestImage(t)

	if out, err := e.berthErr("start", "--cpus", "0"); err == nil || !strings.Contains(out, "between 1 and") {
		t.Fatalf("--cpus 0 accepted: %s", out)
	}
	start := time.Now()
	out := e.berth("start", "--cpus", "2", "--memory", "2", "--disk", "16")
	cold := time.Since(start)
	st := e.status()
	steps := bootSteps(*st.Guest)
	t.Logf("BOOT berth start (cold, first boot) %.1fs to docker-ready; guest: kernel->init %.2fs, engine ready %.2fs after kernel start\n%s",
		cold.Seconds(), steps["init"], steps["engine-ready"], out)
	if st.State != control.Running || st.CPUs != 2 || st.MemoryMiB != 2048 || st.DiskGiB != 16 {
		t.Fatalf("status after start: %+v", st)
	}
	if fi, err := os.Stat(st.DockerSocket); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("docker socket %s: %v %v", st.DockerSocket, fi.Mode(), err)
	}
	if fi, _ := os.Stat(filepath.Dir(st.DockerSocket)); fi.Mode().Perm() != 0o700 {
		t.Fatalf("run dir mode %v", fi.Mode())
	}
	if out, _ := e.berthErr("start"); !strings.Contains(out, "already running") {
		t.Fatalf("second start: %s", out)
	}
	if os := e.docker("version", "--format", "{{.Server.Os}}"); os != "linux" {
		t.Fatalf("server os %q", os)
	}
	e.docker("load", "-i", image)

	// The debug shell reaches guestd (PID 1) in the VM.
	if out := e.berth("shell", "cat", "/proc/1/comm"); out != "guestd" {
		t.Fatalf("berth shell: %q", out)
	}

	// Port forwarding follows the container.
	e.docker("run", "-d", "--rm", "--name", "web", "-p", "18080:80", "berth/welcome")
	if _, err := waitPort("127.0.0.1:18080", true, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if ps := e.docker("ps", "--format", "{{.Names}} {{.Status}}"); !strings.Contains(ps, "web Up") {
		t.Fatalf("docker ps: %s", ps)
	}
	if code, err := httpStatus("http://localhost:18080/"); err != nil || code != 200 {
		t.Fatalf("GET localhost:18080: %d %v", code, err)
	}
	if st := e.status(); len(st.Forwards) == 0 || st.Forwards[0].HostIP != "127.0.0.1" {
		t.Fatalf("forwards in status: %+v", st.Forwards)
	}
	e.docker("stop", "web")
	if _, err := waitPort("127.0.0.1:18080", false, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	// --rm removes the container just after stop returns.
	for i := 0; ; i++ {
		ps := e.docker("ps", "-a", "--format", "{{.Names}}")
		if !strings.Contains(ps, "web") {
			break
		}
		if i == 50 {
			t.Fatalf("--rm container still there: %s", ps)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Auto-forward latency: docker run -d returning -> host port accepting.
	var lat []time.Duration
	for i := 0; i < 10; i++ {
		name := fmt.Sprintf("lat%d", i)
		e.docker("run", "-d", "--name", name, "-p", "18081:80", "berth/welcome")
		d, err := waitPort("127.0.0.1:18081", true, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		lat = append(lat, d)
		e.docker("rm", "-f", name)
		if _, err := waitPort("127.0.0.1:18081", false, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("BENCH auto-forward latency (docker run -d returned -> host port accepts): median %v, min %v, max %v",
		(lat[4]+lat[5])/2, lat[0], lat[9])

	// UDP.
	e.docker("run", "-d", "--name", "udp", "-p", "15353:5353/udp", testImage, "udpecho")
	if got := udpRoundTrip(t, "127.0.0.1:15353", "ping"); got != "PING" {
		t.Fatalf("udp echo %q", got)
	}
	e.docker("rm", "-f", "udp")

	// Streams: logs -f and attach/exec with stdin through the socket.
	e.docker("run", "-d", "--name", "talker", testImage, "sh", "-c", "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.2; done")
	logsFollow(t, e, "talker")
	if out := dockerStdin(t, e, "hello attach\n", "exec", "-i", "talker", "sh", "-c", "read l; echo got:$l"); out != "got:hello attach" {
		t.Fatalf("exec -i: %q", out)
	}
	if out := dockerStdin(t, e, "via run -i\n", "run", "--rm", "-i", testImage, "cat"); out != "via run -i" {
		t.Fatalf("run -i: %q", out)
	}
	e.docker("rm", "-f", "talker")

	// host.docker.internal reaches the host's loopback.
	hostPort := hostGreeter(t)
	if out := e.docker("run", "--rm", testImage, "nc", "-w", "5", "host.docker.internal", hostPort); out != "hello from the host" {
		t.Fatalf("host.docker.internal: %q", out)
	}

	// Volumes survive a stop and start.
	e.docker("volume", "create", "keep")
	e.docker("run", "--rm", "-v", "keep:/data", testImage, "sh", "-c", "echo persisted > /data/f")
	if got := e.docker("run", "--rm", "-v", "keep:/data", testImage, "cat", "/data/f"); got != "persisted" {
		t.Fatalf("second container reads %q", got)
	}
	e.berth("stop")
	if st := e.status(); st.State != control.Stopped {
		t.Fatalf("after stop: %s", st.State)
	}
	if _, err := os.Stat(st.DockerSocket); err == nil {
		t.Fatal("docker socket left behind after stop")
	}
	if out, _ := e.berthErr("stop"); !strings.Contains(out, "not running") {
		t.Fatalf("stopping a stopped machine: %s", out)
	}
	start = time.Now()
	e.berth("start")
	t.Logf("BOOT berth start (warm) %.1fs", time.Since(start).Seconds())
	if got := e.docker("run", "--rm", "-v", "keep:/data", testImage, "cat", "/data/f"); got != "persisted" {
		t.Fatalf("volume after restart: %q", got)
	}

	// A daemon that dies leaves a VM nobody can reach: the next daemon
	// stops it and starts afresh; the data survives.
	killDaemon(t, e)
	if st := e.status(); st.State != control.Stopped {
		t.Fatalf("status with no daemon: %s", st.State)
	}
	e.berth("start")
	if got := e.docker("run", "--rm", "-v", "keep:/data", testImage, "cat", "/data/f"); got != "persisted" {
		t.Fatalf("volume after a daemon crash: %q", got)
	}
	e.berth("stop")
	// This home's VM only: other homes' VMs may run beside it.
	if out, _ := exec.Command("pgrep", "-f", "qemu-system.*"+e.home+"/").CombinedOutput(); len(out) > 0 {
		t.Fatalf("qemu still running after stop: %s", out)
	}
}

func killDaemon(t *testing.T, e *berthEnv) {
	b, err := os.ReadFile(filepath.Join(e.home, "run", "daemon.lock"))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(string(b), &pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for syscall.Kill(pid, 0) == nil {
		time.Sleep(50 * time.Millisecond)
	}
}

func udpRoundTrip(t *testing.T, addr, msg string) string {
	t.Helper()
	// The first datagrams may beat the forward: udpAsk retries.
	got, err := udpAsk(addr, msg)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func logsFollow(t *testing.T, e *berthEnv, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "--context", "berth", "logs", "-f", name)
	cmd.Env = e.env()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	seen := 0
	for sc.Scan() && seen < 15 {
		seen++
	}
	if seen < 15 {
		t.Fatalf("logs -f gave %d lines", seen)
	}
}

func dockerStdin(t *testing.T, e *berthEnv, stdin string, args ...string) string {
	cmd := exec.Command("docker", append([]string{"--context", "berth"}, args...)...)
	cmd.Env = e.env()
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// hostGreeter serves "hello from the host" on a port of the host's
// 127.0.0.1 until the test ends, and returns the port.
func hostGreeter(t *testing.T) string {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello from the host\n"))
			c.Close()
		}
	}()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
