//go:build e2e

package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// resolverNS is a dnsmasq in a network namespace of its own, reached from
// the host's namespace through a veth pair, as a VPN's or an ISP's
// resolver is reached through an interface.
type resolverNS struct {
	name, addr string
	cmd        *exec.Cmd
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// startResolver serves dnsmasq's -address rules for zone (and NXDOMAIN for
// the rest of zone; REFUSED outside it, as a resolver with nothing behind
// it) on a fresh address.
func startResolver(t *testing.T, tag string, subnet int, zone string, records map[string]string) *resolverNS {
	t.Helper()
	r := &resolverNS{name: fmt.Sprintf("berthdns-%s-%d", tag, os.Getpid())}
	host, peer := fmt.Sprintf("10.231.%d.1", subnet), fmt.Sprintf("10.231.%d.2", subnet)
	r.addr = peer
	hv, pv := fmt.Sprintf("bd%s%d", tag[:1], os.Getpid()%100000), fmt.Sprintf("bp%s%d", tag[:1], os.Getpid()%100000)
	run(t, "ip", "netns", "add", r.name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", r.name).Run() })
	run(t, "ip", "link", "add", hv, "type", "veth", "peer", "name", pv, "netns", r.name)
	t.Cleanup(func() { exec.Command("ip", "link", "del", hv).Run() })
	run(t, "ip", "addr", "add", host+"/30", "dev", hv)
	run(t, "ip", "link", "set", hv, "up")
	run(t, "ip", "-n", r.name, "addr", "add", peer+"/30", "dev", pv)
	run(t, "ip", "-n", r.name, "link", "set", pv, "up")
	run(t, "ip", "-n", r.name, "link", "set", "lo", "up")
	args := []string{"netns", "exec", r.name, "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
		"--pid-file", "--user=root", "--listen-address=" + peer, "--bind-interfaces", "--log-queries", "--log-facility=-",
		"--local=/" + zone + "/"}
	for name, ip := range records {
		args = append(args, "--address=/"+name+"/"+ip)
	}
	r.cmd = exec.Command("ip", args...)
	log, err := os.Create(filepath.Join(t.TempDir(), "dnsmasq.log"))
	if err != nil {
		t.Fatal(err)
	}
	r.cmd.Stdout, r.cmd.Stderr = log, log
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("dnsmasq: %v", err)
	}
	t.Cleanup(func() {
		r.cmd.Process.Signal(syscall.SIGCONT)
		r.cmd.Process.Kill()
		r.cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("dnsmasq %s:\n%s", tag, b)
		}
	})
	q := new(dns.Msg)
	q.SetQuestion("probe."+zone+".", dns.TypeA)
	for range 50 {
		c := dns.Client{Timeout: 200 * time.Millisecond}
		if m, _, err := c.Exchange(q, peer+":53"); err == nil && m.Rcode == dns.RcodeNameError {
			return r
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("dnsmasq %s does not answer on %s", tag, peer)
	return nil
}

// lookup runs busybox nslookup in the container and returns its output.
func lookup(e *berthEnv, ctr, name string) string {
	out, _ := e.dockerErr("exec", ctr, "busybox", "nslookup", name)
	return out
}

// waitLookup asks until the output satisfies ok, and says how long it took.
func waitLookup(t *testing.T, e *berthEnv, ctr, name string, ok func(string) bool, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	out := ""
	for time.Since(start) < limit {
		if out = lookup(e, ctr, name); ok(out) {
			return time.Since(start)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not as expected after %v:\n%s", name, limit, out)
	return 0
}

// Names resolve in a running container as they resolve on the host at that
// moment. The daemon runs in a mount namespace where /etc/resolv.conf and
// /etc/hosts are bind mounts of this test's files, which it rewrites in
// place: "a VPN that comes and goes" (a corp resolver added and removed)
// and "an upstream that drops queries" (its dnsmasq stopped and resumed).
// One boot serves both.
func TestDNSFollowsHost(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: network and mount namespaces")
	}
	if _, err := exec.LookPath("dnsmasq"); err != nil {
		t.Fatal("dnsmasq is missing: run `make deps` (dnsmasq-base)")
	}
	sub := 4 * (1 + rand.IntN(60))
	// The public resolver knows every name under test: NXDOMAIN for
	// x.corp.test, as a public resolver says for a VPN's private names.
	pub := startResolver(t, "pub", sub, "test", map[string]string{"y.public.test": "10.8.8.8"})
	corp := startResolver(t, "corp", sub+1, "corp.test", map[string]string{"x.corp.test": "10.9.9.9"})

	dir := t.TempDir()
	rc, hosts := filepath.Join(dir, "resolv.conf"), filepath.Join(dir, "hosts")
	// Rewritten in place (one write): a bind mount follows the inode.
	rewrite := func(path, s string) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	noVPN := "nameserver " + pub.addr + "\n"
	withVPN := "nameserver " + corp.addr + "\nnameserver " + pub.addr + "\nsearch corp.test\n"
	rewrite(rc, noVPN)
	rewrite(hosts, "127.0.0.1 localhost\n10.7.7.7 devbox.hosts.test\n")

	e := newBerthEnv(t)
	image := buildBusybox(t)
	// berth start backgrounds the daemon, which stays in this namespace.
	script := fmt.Sprintf("mount --make-rprivate / && mount --bind %s /etc/resolv.conf && mount --bind %s /etc/hosts && exec %s start --cpus 1 --memory 1",
		rc, hosts, e.bin)
	cmd := exec.Command("unshare", "-m", "sh", "-c", script)
	cmd.Env = e.env()
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("berth start under unshare -m: %v\n%s", err, out)
	}
	t.Logf("berth start: %v", time.Since(start).Round(time.Second))
	e.docker("load", "-i", image)
	e.docker("run", "-d", "--name", "dns", testImage, "sleep", "3600")
	// A second container asks for x.corp.test in a loop and logs when and
	// what it got, so that the time from a swap to the first answer that
	// follows it is measured without docker exec's own seconds (the
	// guest's clock follows the host's within milliseconds).
	e.docker("run", "-d", "--name", "dnsloop", testImage, "sh", "-c", lookupLoop)

	has := func(ip string) func(string) bool { return func(s string) bool { return strings.Contains(s, ip) } }
	hasNot := func(ip string) func(string) bool {
		return func(s string) bool { return !strings.Contains(s, ip) && strings.Contains(s, "can't find") }
	}
	waitLookup(t, e, "dns", "y.public.test", has("10.8.8.8"), time.Minute)
	waitLookup(t, e, "dns", "devbox.hosts.test", has("10.7.7.7"), 30*time.Second)
	waitLookup(t, e, "dns", "host.docker.internal", has("192.168.127.254"), 30*time.Second)
	if out := lookup(e, "dns", "x.corp.test"); strings.Contains(out, "10.9.9.9") {
		t.Fatalf("x.corp.test resolves before the VPN:\n%s", out)
	}

	t.Run("VPN comes and goes", func(t *testing.T) {
		swapUp := time.Now()
		rewrite(rc, withVPN)
		up := waitLookup(t, e, "dns", "x.corp.test", has("10.9.9.9"), time.Minute)
		// The public names still resolve (the corp resolver refuses them).
		waitLookup(t, e, "dns", "y.public.test", has("10.8.8.8"), 30*time.Second)
		// The host's search list: a single label finds the corp name.
		waitLookup(t, e, "dns", "x", has("10.9.9.9"), 30*time.Second)
		swapDown := time.Now()
		rewrite(rc, noVPN)
		down := waitLookup(t, e, "dns", "x.corp.test", hasNot("10.9.9.9"), time.Minute)
		t.Logf("DNS VPN through docker exec: up %.1fs, down %.1fs (one docker exec of nslookup takes %.1fs here)",
			up.Seconds(), down.Seconds(), timeExec(e).Seconds())
		time.Sleep(2 * time.Second) // the loop's next lines
		logs := e.docker("logs", "dnsloop")
		upIn, ok1 := firstAfter(logs, swapUp, "1")
		downIn, ok2 := firstAfter(logs, swapDown, "0")
		if !ok1 || !ok2 {
			t.Fatalf("the lookup loop never saw the swaps (%v %v):\n%s", ok1, ok2, logs)
		}
		t.Logf("DNS VPN up: %.2fs, down: %.2fs (swap to the first answer that follows it, in a running container; the loop asks every ~%.2fs)",
			upIn.Seconds(), downIn.Seconds(), loopPeriod(logs).Seconds())
		daemonLog := e.berth("logs", "-n", "400")
		t.Logf("DNS reload in the daemon after the swap: up %v, down %v",
			reloadAfter(daemonLog, swapUp), reloadAfter(daemonLog, swapDown))
		if out := lookup(e, "dns", "x.corp.test"); !strings.Contains(out, "NXDOMAIN") {
			t.Errorf("after the VPN, x.corp.test is not NXDOMAIN (the public resolver says so):\n%s", out)
		}
	})

	t.Run("upstream drops queries", func(t *testing.T) {
		pub.cmd.Process.Signal(syscall.SIGSTOP)
		// busybox nslookup, like musl, asks again on SERVFAIL and ends
		// with "timed out": the answer's code is read from a raw query
		// over TCP (busybox nc has no UDP), timed in the container.
		out, _ := e.dockerErr("exec", "dns", "sh", "-c", rawQuery)
		f := strings.Fields(out)
		if len(f) < 8 {
			t.Fatalf("raw query: %q", out)
		}
		t0, _ := strconv.ParseFloat(f[0], 64)
		t1, _ := strconv.ParseFloat(f[len(f)-1], 64)
		flags, _ := strconv.ParseUint(f[6], 16, 8)
		took := time.Duration((t1 - t0) * float64(time.Second))
		t.Logf("DNS dropped upstream: rcode %s in %.1fs (in the container)", dns.RcodeToString[int(flags&0xf)], took.Seconds())
		if flags&0xf != dns.RcodeServerFailure {
			t.Errorf("with the upstream dropping queries: rcode %s, want SERVFAIL (%q)", dns.RcodeToString[int(flags&0xf)], out)
		}
		if took > 6*time.Second {
			t.Errorf("SERVFAIL after %v", took)
		}
		if out := lookup(e, "dns", "y.public.test"); strings.Contains(out, "NXDOMAIN") {
			t.Errorf("NXDOMAIN while the upstream drops queries:\n%s", out)
		}
		pub.cmd.Process.Signal(syscall.SIGCONT)
		back := waitLookup(t, e, "dns", "y.public.test", has("10.8.8.8"), 30*time.Second)
		t.Logf("DNS upstream answering again: resolves after %.1fs (docker exec included)", back.Seconds())
	})
}

// rawQuery asks the gateway for y.public.test's A record over TCP and
// prints the time before, the answer's first six bytes (length, ID,
// flags) and the time they came.
const rawQuery = `echo $EPOCHREALTIME; printf '\000\037\276\357\001\000\000\001\000\000\000\000\000\000\001y\006public\004test\000\000\001\000\001' |
busybox timeout 8 busybox nc 192.168.127.1 53 | { busybox head -c 6 | busybox od -An -tx1; echo $EPOCHREALTIME; }`

// lookupLoop prints, forever, the time and whether x.corp.test resolved
// to the corp address (1) or not (0).
const lookupLoop = `while :; do
  r=$(busybox nslookup x.corp.test 2>&1 | busybox grep -c 10.9.9.9)
  echo "$EPOCHREALTIME $r"; busybox sleep 0.1
done`

// firstAfter finds the loop's first line started after t (its time is
// when the lookup ended, so a line counts only if the one before it is
// after t too) with the result want, and returns how long after t that was.
func firstAfter(logs string, t time.Time, want string) (time.Duration, bool) {
	var prev float64
	at := float64(t.UnixNano()) / 1e9
	for _, line := range strings.Split(logs, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		ts, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		if prev > at && f[1] == want {
			return time.Duration((ts - at) * float64(time.Second)), true
		}
		prev = ts
	}
	return 0, false
}

// reloadAfter is how long after t the daemon logged a new host resolver
// configuration.
func reloadAfter(log string, t time.Time) time.Duration {
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `msg="host resolver configuration"`) {
			continue
		}
		ts, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "time="), " ")
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err == nil && at.After(t) {
			return at.Sub(t).Round(time.Millisecond)
		}
	}
	return -1
}

// loopPeriod is the loop's median time between lines.
func loopPeriod(logs string) time.Duration {
	var ts, gaps []float64
	for _, line := range strings.Split(logs, "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				ts = append(ts, v)
			}
		}
	}
	for i := 1; i < len(ts); i++ {
		gaps = append(gaps, ts[i]-ts[i-1])
	}
	if len(gaps) == 0 {
		return 0
	}
	sort.Float64s(gaps)
	return time.Duration(gaps[len(gaps)/2] * float64(time.Second))
}

// timeExec is how long one docker exec of nslookup takes here, for the
// figures above.
func timeExec(e *berthEnv) time.Duration {
	start := time.Now()
	lookup(e, "dns", "host.docker.internal")
	return time.Since(start)
}
