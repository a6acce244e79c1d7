//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// seen is one path a watcher in the container reported, and when its line
// reached the host.
type seen struct {
	op, path string
	at       time.Time
}

// Host changes in a shared folder reach watchers in a container: plain
// inotify, Go's fsnotify, Node's fs.watch and chokidar (the last two when
// the host has node), each within a second, with no
// echo in either direction, and 10,000 changes at once cost the daemon
// bounded CPU and memory.
func TestFileEvents(t *testing.T) {
	e := newBerthEnv(t)
	node, _ := exec.LookPath("node")
	image := buildBusyboxWith(t, func(root string) {
		cmd := exec.Command("go", "build", "-o", filepath.Join(root, "bin", "fswatcher"), "./testdata/fswatcher")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build fswatcher: %v\n%s", err, out)
		}
		if node != "" {
			addNode(t, root, node)
			addChokidar(t, root)
		}
	})
	share := filepath.Join(t.TempDir(), "proj")
	for _, d := range []string{share, filepath.Join(share, "sub"), filepath.Join(share, "bulk")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(share, "f"), []byte("one\n"), 0o644)
	home, _ := os.UserHomeDir()
	e.berth("start", "--cpus", "2", "--memory", "2", "--disk", "16",
		"--unmount", home, "--unmount", os.TempDir(), "--mount", share)
	e.docker("load", "-i", image)
	e.docker("run", "-d", "-t", "--name", "watch", "-v", share+":"+share, testImage, "sh", "-c",
		fmt.Sprintf("fswatcher -raw %[1]s %[1]s/sub %[1]s/bulk & %[2]s exec fswatcher %[1]s %[1]s/sub %[1]s/bulk", share,
			map[bool]string{true: node + " /bin/nodewatch.js " + share + " " + share + "/sub " + share + "/bulk & " +
				node + " /bin/chokidarwatch.js " + share + " &"}[node != ""]))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := exec.CommandContext(ctx, "docker", "--context", "berth", "logs", "-f", "watch")
	logs.Env = e.env()
	out, err := logs.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := logs.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel() // docker logs -f follows until killed
		logs.Wait()
	}()
	watchers := map[string]chan seen{"inotify": make(chan seen, 100000), "fsnotify": make(chan seen, 100000)}
	if node != "" {
		// Node's fs.watch, which webpack's watchpack uses as it is, and
		// chokidar (vite's watcher) on the whole tree.
		watchers["node"] = make(chan seen, 100000)
		watchers["chokidar"] = make(chan seen, 100000)
	} else {
		t.Log("no node on this host: Node's fs.watch and chokidar are not tried")
	}
	ready := make(chan struct{}, len(watchers))
	var raw atomic.Int64
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			at := time.Now()
			line := strings.TrimRight(sc.Text(), "\r")
			raw.Add(1)
			if strings.HasSuffix(line, " ready") {
				ready <- struct{}{}
				continue
			}
			if f := strings.SplitN(line, " ", 3); len(f) == 3 && watchers[f[0]] != nil {
				watchers[f[0]] <- seen{f[1], f[2], at}
			} else {
				t.Logf("container: %s", line)
			}
		}
	}()
	for range len(watchers) {
		select {
		case <-ready:
		case <-time.After(2 * time.Minute):
			t.Fatal("the watchers in the container did not start")
		}
	}

	// The host's own watcher of the folder, as an editor has: what Berth's
	// touches in the guest look like on the host.
	hw, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer hw.Close()
	hw.Add(share)
	var hostEvents atomic.Int64
	go func() {
		for range hw.Events {
			hostEvents.Add(1)
		}
	}()

	drain := func() map[string][]string {
		got := map[string][]string{}
		for name, c := range watchers {
			for {
				select {
				case s := <-c:
					got[name] = append(got[name], s.path)
					continue
				default:
				}
				break
			}
		}
		return got
	}
	// await waits for each watcher to report one of paths, and returns how
	// long after start each did.
	await := func(start time.Time, limit time.Duration, paths ...string) map[string]time.Duration {
		lat := map[string]time.Duration{}
		for name, c := range watchers {
			deadline := time.After(limit)
		wait:
			for {
				select {
				case s := <-c:
					if slices.Contains(paths, s.path) {
						lat[name] = s.at.Sub(start)
						break wait
					}
				case <-deadline:
					break wait
				}
			}
		}
		return lat
	}
	p := func(rel string) string { return filepath.Join(share, rel) }

	ops := []struct {
		name string
		do   func() error
		// what a watcher may report for it: the path itself, or its
		// directory (for an entry that went, the directory is all there is)
		paths []string
	}{
		{"write", func() error { return os.WriteFile(p("f"), []byte("two\n"), 0o644) }, []string{p("f")}},
		{"append", func() error {
			f, err := os.OpenFile(p("f"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			f.WriteString("three\n")
			return f.Close()
		}, []string{p("f")}},
		{"create", func() error { return os.WriteFile(p("sub/new"), []byte("x"), 0o644) }, []string{p("sub/new")}},
		{"delete", func() error { return os.Remove(p("sub/new")) }, []string{p("sub/new"), p("sub")}},
		{"rename", func() error { return os.Rename(p("f"), p("g")) }, []string{p("g"), p("f")}},
		{"mkdir", func() error { return os.Mkdir(p("made"), 0o755) }, []string{p("made")}},
	}
	for _, op := range ops {
		time.Sleep(500 * time.Millisecond)
		drain()
		start := time.Now()
		if err := op.do(); err != nil {
			t.Fatal(err)
		}
		lat := await(start, 5*time.Second, op.paths...)
		time.Sleep(500 * time.Millisecond)
		rest := drain()
		for name := range watchers {
			d, ok := lat[name]
			switch {
			case !ok:
				t.Errorf("%s: %s saw nothing of it within 5 s", op.name, name)
			case d > time.Second:
				t.Errorf("%s: %s saw it after %v", op.name, name, d.Round(time.Millisecond))
			}
		}
		t.Logf("FSEVENTS %s: inotify %v, fsnotify %v, node %v, chokidar %v; then %q", op.name, lat["inotify"].Round(time.Millisecond),
			lat["fsnotify"].Round(time.Millisecond), lat["node"].Round(time.Millisecond), lat["chokidar"].Round(time.Millisecond), rest)
	}

	// A container's own write: the host sees it through the share and
	// sends it back; the guest knows it wrote it and raises nothing more.
	time.Sleep(500 * time.Millisecond)
	drain()
	e.docker("run", "--rm", "-v", share+":"+share, testImage, "sh", "-c", "echo from a container > "+p("sub/fromc"))
	time.Sleep(3 * time.Second)
	made := map[string][]string{}
	for name, c := range watchers {
		for len(c) > 0 {
			if s := <-c; s.path == p("sub/fromc") {
				made[name] = append(made[name], s.op)
			}
		}
	}
	t.Logf("FSEVENTS container write: inotify %q, fsnotify %q, node %q, chokidar %q", made["inotify"], made["fsnotify"], made["node"], made["chokidar"])
	if n := strings.Count(strings.Join(made["inotify"], " "), "MODIFY"); n > 1 {
		t.Errorf("the container's write was raised again: inotify saw %q", made["inotify"])
	}

	// Latency: 100 host writes, each waited for.
	lats := map[string][]time.Duration{}
	hostBefore := hostEvents.Load()
	for i := range 100 {
		drain()
		start := time.Now()
		os.WriteFile(p("sub/lat"), []byte(strconv.Itoa(i)), 0o644)
		for name, d := range await(start, 5*time.Second, p("sub/lat")) {
			lats[name] = append(lats[name], d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for name, ds := range lats {
		slices.Sort(ds)
		t.Logf("FSEVENTS latency %s: median %dms p99 %dms (%d of 100 seen; host write to the watcher's line on the host)", name,
			ds[len(ds)/2].Milliseconds(), ds[min(len(ds)-1, len(ds)*99/100)].Milliseconds(), len(ds))
		if len(ds) < 100 {
			t.Errorf("%s saw %d of 100 writes", name, len(ds))
		}
	}

	// No echo: once quiet, nothing more comes, on either side.
	time.Sleep(3 * time.Second)
	drain()
	hostAfterWrites := hostEvents.Load() - hostBefore
	time.Sleep(5 * time.Second)
	if got := drain(); len(got["inotify"])+len(got["fsnotify"])+len(got["node"])+len(got["chokidar"]) > 0 {
		t.Errorf("events kept coming after the host stopped (an echo loop): %q", got)
	}
	t.Logf("FSEVENTS host watcher: %d events for 100 host writes of one file in a subfolder (the folder is watched, not sub: 0 expected)", hostAfterWrites)
	before := hostEvents.Load()
	os.WriteFile(p("h"), []byte("x"), 0o644) // in the watched folder itself
	time.Sleep(3 * time.Second)
	t.Logf("FSEVENTS host watcher: %d events for one host write of a new file (the host's own CREATE+WRITE, plus Berth's touches coming back through the share)", hostEvents.Load()-before)

	// 10,000 files at once.
	pid := e.status().DaemonPid
	cpu0, rss0 := procCPU(t, pid), procRSS(pid, "VmRSS")
	drain()
	start := time.Now()
	for i := range 10000 {
		if err := os.WriteFile(p("bulk/f"+strconv.Itoa(i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wrote := time.Since(start)
	// Every watcher's events until none came for 5 s (10 s before the first).
	var last time.Time
	count := map[string]int{}
	for waited := time.Now(); ; {
		got := false
		for name, c := range watchers {
			for len(c) > 0 {
				s := <-c
				count[name]++
				if s.at.After(last) {
					last = s.at
				}
				got = true
			}
		}
		if got {
			continue
		}
		if last.IsZero() && time.Since(waited) > 10*time.Second || !last.IsZero() && time.Since(last) > 5*time.Second {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cpu1 := procCPU(t, pid)
	t.Logf("FSEVENTS 10000 files: host wrote them in %v; last event in the guest %v after the first write; inotify %d events, fsnotify %d, node %d, chokidar %d; daemon CPU %.2fs, RSS %s → %s (peak %s)",
		wrote.Round(time.Millisecond), last.Sub(start).Round(time.Millisecond), count["inotify"], count["fsnotify"], count["node"], count["chokidar"],
		cpu1-cpu0, rss0, procRSS(pid, "VmRSS"), procRSS(pid, "VmHWM"))
	if count["fsnotify"] == 0 {
		t.Error("no event in the guest for 10,000 new files")
	}
	_ = raw.Load()
}

// procCPU is a process's user+system CPU time in seconds.
func procCPU(t *testing.T, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// procRSS is a memory figure of /proc/PID/status.
func procRSS(pid int, field string) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			return strings.Join(strings.Fields(l)[1:], " ")
		}
	}
	return "?"
}

// addNode copies the host's node and the libraries it links into the
// image's root, at the same paths, with a script that prints what fs.watch
// reports: "node EVENT PATH" (libuv names a watched directory's own events
// by its base name, so they read DIR/BASE).
func addNode(t *testing.T, root, node string) {
	t.Helper()
	out, err := exec.Command("ldd", node).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", node, err)
	}
	files := []string{node}
	for _, l := range strings.Split(string(out), "\n") {
		for _, f := range strings.Fields(l) {
			if strings.HasPrefix(f, "/") {
				files = append(files, f)
			}
		}
	}
	for _, f := range files {
		real, err := filepath.EvalSymlinks(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(real)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(root, f)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		os.Remove(dst)
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := `const fs = require("fs"), path = require("path");
for (const d of process.argv.slice(2)) fs.watch(d, (ev, name) => console.log("node " + ev + " " + (name ? path.join(d, name) : d)));
console.log("node ready");
`
	if err := os.WriteFile(filepath.Join(root, "bin", "nodewatch.js"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
}

// npmPackage is a package from the npm registry, pinned by its integrity.
type npmPackage struct{ name, version, sha512 string }

// chokidar 4 and its one dependency, as npm would install them.
var chokidarPackages = []npmPackage{
	{"chokidar", "4.0.3", "Qgzu8kfBvo+cA4962jnP1KkS6Dop5NS6g7R5LFYJr4b8Ub94PPQXUksCw9PvXoeXPRRddRNC5C1JQUR2SMGtnA=="},
	{"readdirp", "4.1.2", "GDhwkLfywWL2s6vEjyhri+eXmfH6j1L7JE27WhqLeYzoh/A3DBaYGEj2H/HFZCn/kMfim73FXxEJTw06WtxQwg=="},
}

// addChokidar puts chokidar from the npm registry under /opt/chokidar in
// the image's root, with a script that prints what it reports: "chokidar
// EVENT PATH" (add, change, unlink, addDir, unlinkDir) for a whole tree.
func addChokidar(t *testing.T, root string) {
	t.Helper()
	for _, p := range chokidarPackages {
		url := fmt.Sprintf("https://registry.npmjs.org/%[1]s/-/%[1]s-%[2]s.tgz", p.name, p.version)
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("fetch %s: %v", url, err)
		}
		tgz, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("fetch %s: %s %v", url, resp.Status, err)
		}
		if sum := sha512.Sum512(tgz); base64.StdEncoding.EncodeToString(sum[:]) != p.sha512 {
			t.Fatalf("%s: the registry's tarball does not match its pinned sha512", url)
		}
		dir := filepath.Join(root, "opt", "chokidar", "node_modules", p.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// npm's tarballs hold the package under package/.
		tar := exec.Command("tar", "-xz", "--strip-components=1", "-C", dir)
		tar.Stdin = bytes.NewReader(tgz)
		if out, err := tar.CombinedOutput(); err != nil {
			t.Fatalf("unpack %s: %v\n%s", url, err, out)
		}
	}
	script := `const chokidar = require("/opt/chokidar/node_modules/chokidar");
chokidar.watch(process.argv.slice(2), {ignoreInitial: true})
  .on("all", (ev, p) => console.log("chokidar " + ev + " " + p))
  .on("ready", () => console.log("chokidar ready"));
`
	if err := os.WriteFile(filepath.Join(root, "bin", "chokidarwatch.js"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
}
