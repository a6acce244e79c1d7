//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthvm/berth/app/control"
)

// Published ports as people write them, each checked with a real request
// from the host: where the user asked, in both families, TCP and UDP;
// docker's own view of them untouched; bad input refused or reported;
// --add-host NAME:host-gateway reaching the host.
func TestPublishedPorts(t *testing.T) {
	t.Parallel() // its own home and VM: see reliabilityMachine
	if _, err := os.Stat("/run/libvirt/libvirt-sock"); err != nil && os.Geteuid() == 0 {
		t.Fatal("libvirtd is not running: run `make deps`")
	}
	e := newBerthEnv(t)
	image := buildTestImage(t)
	e.berth("start", "--cpus", "2", "--memory", "2")
	e.docker("load", "-i", image)

	// TCP, one container per form; wantHTTP lists where the host must
	// answer, wantRefused where it must not listen.
	forms := []struct {
		name, publish         string
		wantHTTP, wantRefused []string
	}{
		{"lo4", "127.0.0.1:18190:80", []string{"127.0.0.1:18190"}, []string{"[::1]:18190"}},
		{"plain", "18191:80", []string{"127.0.0.1:18191", "[::1]:18191", "localhost:18191"}, nil},
		{"lo6", "[::1]:18192:80", []string{"[::1]:18192"}, []string{"127.0.0.1:18192"}},
		{"any4", "0.0.0.0:18193:80", append([]string{"127.0.0.1:18193"}, lanAddrs(18193)...), nil},
		{"any6", "[::]:18194:80", []string{"[::1]:18194"}, nil},
	}
	for _, f := range forms {
		e.docker("run", "-d", "--name", f.name, "-p", f.publish, "berth/welcome")
	}
	for _, f := range forms {
		for _, a := range f.wantHTTP {
			waitHTTP(t, "http://"+a+"/")
		}
		for _, a := range f.wantRefused {
			if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
				c.Close()
				t.Errorf("-p %s: %s accepts connections", f.publish, a)
			}
		}
	}
	// docker's view is what the user asked, not what Berth did with it.
	if got := e.docker("port", "lo4"); got != "80/tcp -> 127.0.0.1:18190" {
		t.Errorf("docker port lo4: %q", got)
	}
	if got := e.docker("inspect", "-f", "{{json .HostConfig.PortBindings}}", "lo6"); got != `{"80/tcp":[{"HostIp":"::1","HostPort":"18192"}]}` {
		t.Errorf("docker inspect lo6 PortBindings: %s", got)
	}
	if got := e.docker("ps", "--filter", "name=^plain$", "--format", "{{.Ports}}"); !strings.Contains(got, "0.0.0.0:18191->80/tcp") {
		t.Errorf("docker ps plain: %q", got)
	}

	// -P and a range: the ports dockerd chose, on both loopbacks.
	e.docker("run", "-d", "--name", "all", "-P", "berth/welcome")
	e.docker("run", "-d", "--name", "range", "-p", "127.0.0.1:18195-18196:8080-8081", testImage,
		"sh", "-c", "mkdir /w && echo hi > /w/index.html && httpd -p 8080 -h /w && exec httpd -f -p 8081 -h /w")
	allPort := strings.TrimPrefix(firstLine(e.docker("port", "all", "80/tcp")), "0.0.0.0:")
	for _, a := range []string{"127.0.0.1:" + allPort, "[::1]:" + allPort, "127.0.0.1:18195", "127.0.0.1:18196"} {
		waitHTTP(t, "http://"+a+"/")
	}

	// UDP: on the address asked, both families by default, one flow per
	// client.
	e.docker("run", "-d", "--name", "udp4", "-p", "127.0.0.1:15353:5353/udp", testImage, "udpecho")
	e.docker("run", "-d", "--name", "udp", "-p", "15354:5353/udp", testImage, "udpecho")
	for _, a := range []string{"127.0.0.1:15353", "127.0.0.1:15354", "[::1]:15354"} {
		if got := udpRoundTrip(t, a, "ping "+a); got != strings.ToUpper("ping "+a) {
			t.Errorf("udp echo from %s: %q", a, got)
		}
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			msg := fmt.Sprintf("client %d", i)
			if got, err := udpAsk("127.0.0.1:15354", msg); err != nil || got != strings.ToUpper(msg) {
				t.Errorf("udp client %d got %q, %v", i, got, err)
			}
		})
	}
	wg.Wait()

	// berth status shows the ports as published.
	pubs := map[string]control.Publication{}
	for _, p := range control.Publications(e.status().Forwards) {
		pubs[p.Container+" "+p.Published] = p
	}
	for _, want := range []string{"lo4 127.0.0.1:18190:80", "plain 18191:80", "lo6 [::1]:18192:80", "any4 0.0.0.0:18193:80",
		"range 127.0.0.1:18195:8080", "udp 15354:5353/udp", "all " + allPort + ":80"} {
		if p, ok := pubs[want]; !ok || len(p.Errors) > 0 {
			t.Errorf("berth status lacks %q (or it failed): %+v", want, pubs)
		}
	}
	if p := pubs["plain 18191:80"]; strings.Join(p.HostIPs, ",") != "127.0.0.1,::1" {
		t.Errorf("plain listens on %v", p.HostIPs)
	}
	if out := e.berth("status"); !strings.Contains(out, "port:    lo4 127.0.0.1:18190:80") {
		t.Errorf("berth status:\n%s", out)
	}

	// An address the host does not have is refused before anything exists.
	out, err := e.dockerErr("run", "-d", "--name", "foreign", "-p", "10.9.9.9:18197:80", "berth/welcome")
	if err == nil || !strings.Contains(out, "cannot publish on 10.9.9.9: this host has no such address") || !strings.Contains(out, "-p 0.0.0.0:8080:80") {
		t.Errorf("docker run -p 10.9.9.9:…: %v\n%s", err, out)
	}
	if ps := e.docker("ps", "-a", "--filter", "name=^foreign$", "-q"); ps != "" {
		t.Errorf("the refused container exists: %s", ps)
	}

	// A host port already taken: reported by address, the container runs,
	// its other ports are forwarded.
	taken, err := net.Listen("tcp4", "127.0.0.1:18198")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	e.docker("run", "-d", "--name", "clash", "-p", "18198:80", "-p", "18199:80", "berth/welcome")
	waitHTTP(t, "http://127.0.0.1:18199/")
	waitHTTP(t, "http://[::1]:18198/")
	st := e.status()
	var clashErr string
	for _, f := range st.Forwards {
		if f.Container == "clash" && f.HostIP == "127.0.0.1" && f.HostPort == 18198 {
			clashErr = f.Error
		}
	}
	if !strings.Contains(clashErr, "host port 127.0.0.1:18198/tcp is already in use") {
		t.Errorf("status of the taken port: %q (forwards %+v)", clashErr, st.Forwards)
	}
	if s := e.docker("inspect", "-f", "{{.State.Running}}", "clash"); s != "true" {
		t.Errorf("clash running: %s", s)
	}

	// host-gateway is the host, as host.docker.internal is.
	hostPort := hostGreeter(t)
	for _, name := range []string{"test-host", "host.docker.internal"} {
		out := e.docker("run", "--rm", "--add-host", name+":host-gateway", testImage, "nc", "-w", "5", name, hostPort)
		if out != "hello from the host" {
			t.Errorf("--add-host %s:host-gateway, then nc %s %s: %q", name, name, hostPort, out)
		}
	}

	// Stopping a container closes its host ports, both families.
	e.docker("rm", "-f", "plain")
	for _, a := range []string{"127.0.0.1:18191", "[::1]:18191"} {
		if _, err := waitPort(a, false, 30*time.Second); err != nil {
			t.Error(err)
		}
	}

	// BENCH: from `docker run -d -p …` returning to the host port
	// answering an HTTP request, for a port dialed straight at the guest
	// (-p P:C) and one dialed through guestd (-p 127.0.0.1:P:C),
	// alternated so both see the same load.
	bench := []struct{ publish, addr string }{
		{"18181:80", "127.0.0.1:18181"},
		{"127.0.0.1:18182:80", "127.0.0.1:18182"},
	}
	accept, answer := make([][]time.Duration, len(bench)), make([][]time.Duration, len(bench))
	for i := range 10 {
		for j, form := range bench {
			name := fmt.Sprintf("lat%d-%d", j, i)
			e.docker("run", "-d", "--name", name, "-p", form.publish, "berth/welcome")
			start := time.Now()
			d, err := waitPort(form.addr, true, 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			accept[j] = append(accept[j], d)
			waitHTTP(t, "http://"+form.addr+"/")
			answer[j] = append(answer[j], time.Since(start))
			e.docker("rm", "-f", name)
			if _, err := waitPort(form.addr, false, 30*time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
	for j, form := range bench {
		t.Logf("BENCH publish latency -p %s (docker run -d returned -> host port): accepts median %v; answers HTTP median %v (min %v, max %v)",
			form.publish, median(accept[j]), median(answer[j]), slices.Min(answer[j]), slices.Max(answer[j]))
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

// waitHTTP retries a GET until it answers 200.
func waitHTTP(t *testing.T, url string) {
	t.Helper()
	var code int
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if code, err = httpStatus(url); err == nil && code == 200 {
			return
		}
	}
	t.Errorf("GET %s: %d %v", url, code, err)
}

// lanAddrs are the host's non-loopback IPv4 addresses with port, which a
// port published on 0.0.0.0 must answer on.
func lanAddrs(port int) []string {
	addrs, _ := net.InterfaceAddrs()
	var out []string
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			out = append(out, net.JoinHostPort(n.IP.String(), strconv.Itoa(port)))
		}
	}
	return out
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(l)
}

// udpAsk sends msg from its own socket until an answer comes.
func udpAsk(addr, msg string) (string, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	buf := make([]byte, 100)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(time.Second))
		if n, err := c.Read(buf); err == nil {
			return string(buf[:n]), nil
		}
	}
	return "", fmt.Errorf("no UDP answer from %s", addr)
}
