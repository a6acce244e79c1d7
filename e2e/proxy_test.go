//go:build e2e

package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testPKI writes a CA and a server certificate for name under dir, and
// returns the CA's PEM.
func testPKI(t *testing.T, dir, name string) []byte {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Berth e2e test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, IPAddresses: []net.IP{net.ParseIP(name)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	os.WriteFile(filepath.Join(dir, "server.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, "server.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return caPEM
}

// hostIPv4 is an IPv4 address of the host other than loopback.
func hostIPv4(t *testing.T) string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	t.Fatal("the host has no IPv4 address but loopback")
	return ""
}

// background runs a server until the test ends.
func background(t *testing.T, log string, name string, args ...string) {
	t.Helper()
	f, _ := os.Create(log)
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("%s log:\n%s", name, b)
		}
	})
}

// The engine pushes to and pulls from a TLS registry whose CA only the
// host trusts, with the host's proxy (tinyproxy) the only way there: nft
// refuses every other connection to the registry's port.
func TestProxyAndHostCAs(t *testing.T) {
	for _, bin := range []string{"tinyproxy", "docker-registry", "nft"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is missing: run `make deps`", bin)
		}
	}
	tp, err := user.Lookup("tinyproxy")
	if err != nil {
		t.Fatal(err)
	}
	// The registry by the host's own non-loopback address: dockerd treats
	// a registry on 127.0.0.0/8 as insecure and would not check its
	// certificate.
	host := hostIPv4(t)
	const regPort, proxyPort, proxyPort2 = "5443", "8888", "8889"
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	caPEM := testPKI(t, dir, host)

	// The registry, on TLS with the test CA.
	regCfg := filepath.Join(dir, "registry.yml")
	os.WriteFile(regCfg, []byte(fmt.Sprintf(`version: 0.1
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: :%s
  tls:
    certificate: %s
    key: %s
`, filepath.Join(dir, "store"), regPort, filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"))), 0o644)
	background(t, filepath.Join(dir, "registry.log"), "docker-registry", "serve", regCfg)

	// The host's proxy, and a second one the GNOME setting moves to.
	for i, port := range []string{proxyPort, proxyPort2} {
		name := []string{"tinyproxy", "tinyproxy2"}[i]
		cfg := filepath.Join(dir, name+".conf")
		os.WriteFile(cfg, []byte(fmt.Sprintf("User tinyproxy\nGroup tinyproxy\nPort %s\nListen 127.0.0.1\nAllow 127.0.0.1\nConnectPort %s\nLogLevel Connect\nMaxClients 50\n", port, regPort)), 0o644)
		background(t, filepath.Join(dir, name+".log"), "tinyproxy", "-d", "-c", cfg)
	}

	// Only tinyproxy's user reaches the registry's port.
	rules := fmt.Sprintf("table inet berth_e2e_proxy {\n chain out {\n  type filter hook output priority 0; policy accept;\n  tcp dport %s meta skuid != %s reject with tcp reset\n }\n}\n", regPort, tp.Uid)
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("nft", "delete", "table", "inet", "berth_e2e_proxy").Run() })
	time.Sleep(time.Second)
	if c, err := net.DialTimeout("tcp", host+":"+regPort, 2*time.Second); err == nil {
		c.Close()
		t.Fatal("the registry is reachable without the proxy: the nft rule did not take")
	}

	// The host trusts the test CA (Go and OpenSSL take SSL_CERT_FILE).
	system, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, "host-bundle.crt")
	os.WriteFile(bundle, append(system, caPEM...), 0o644)

	e := newBerthEnv(t)
	e.extraEnv = []string{"HTTPS_PROXY=http://127.0.0.1:" + proxyPort, "SSL_CERT_FILE=" + bundle}
	e.berth("start", "--cpus", "2", "--memory", "2", "--disk", "16")
	st := e.status()
	if st.CAs == nil || st.CAs.Carried < 1 || len(st.CAs.From) != 1 || st.CAs.From[0] != bundle {
		t.Fatalf("status CAs: %+v", st.CAs)
	}
	t.Logf("CAs carried: %d from %v", st.CAs.Carried, st.CAs.From)
	if out := e.berth("status"); !strings.Contains(out, "CAs:") {
		t.Errorf("berth status has no CAs line:\n%s", out)
	}
	// The test CA is in the guest's trust store (a line of its base64).
	caLine := strings.Split(string(caPEM), "\n")[2]
	if out, err := e.berthErr("shell", "grep", "-c", "-F", caLine, "/etc/ssl/certs/ca-certificates.crt"); err != nil || out != "1" {
		t.Fatalf("the test CA is not in the guest's bundle: %v %q", err, out)
	}

	ref := host + ":" + regPort + "/berth/welcome:e2e"
	e.docker("tag", "berth/welcome", ref)
	start := time.Now()
	e.docker("push", ref)
	t.Logf("push through the host's proxy: %.1fs", time.Since(start).Seconds())
	e.docker("rmi", ref)
	start = time.Now()
	e.docker("pull", ref)
	t.Logf("pull through the host's proxy: %.1fs", time.Since(start).Seconds())
	b, _ := os.ReadFile(filepath.Join(dir, "tinyproxy.log"))
	if !strings.Contains(string(b), "CONNECT "+host+":"+regPort) {
		t.Errorf("tinyproxy saw no CONNECT:\n%s", b)
	}

	// A CA the host comes to trust reaches the engine at its next start.
	extra := testPKI(t, t.TempDir(), "192.0.2.99")
	os.WriteFile(bundle, append(append(system, caPEM...), extra...), 0o644)
	before := st.CAs.Carried
	start = time.Now()
	e.berth("restart")
	t.Logf("berth restart to pick up a new host CA: %.1fs", time.Since(start).Seconds())
	if st := e.status(); st.CAs == nil || st.CAs.Carried != before+1 {
		t.Fatalf("after restart, CAs %+v, want %d carried", st.CAs, before+1)
	}
	e.docker("rmi", ref)
	e.docker("pull", ref)

	// GNOME's proxy setting (Settings › Network › Proxy), for a daemon whose
	// environment names no proxy: read through gsettings (its keyfile
	// backend, in the test's directory, as dconf would hold it), and a change
	// of port followed without a restart.
	gnome := []string{"GSETTINGS_BACKEND=keyfile", "XDG_CONFIG_HOME=" + filepath.Join(dir, "xdg")}
	gset := func(args ...string) {
		cmd := exec.Command("gsettings", args...)
		cmd.Env = append(os.Environ(), gnome...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gsettings %v: %v\n%s", args, err, out)
		}
	}
	gset("set", "org.gnome.system.proxy", "mode", "manual")
	gset("set", "org.gnome.system.proxy.https", "host", "127.0.0.1")
	gset("set", "org.gnome.system.proxy.https", "port", proxyPort2)
	pid := e.status().DaemonPid
	e.berth("stop")
	syscall.Kill(pid, syscall.SIGTERM)
	waitGone(t, pid)
	e.extraEnv = append(gnome, "SSL_CERT_FILE="+bundle)
	e.berth("start")
	connects := func(log string) int {
		b, _ := os.ReadFile(filepath.Join(dir, log))
		return strings.Count(string(b), "CONNECT "+host+":"+regPort)
	}
	first := connects("tinyproxy.log")
	e.docker("rmi", ref)
	e.docker("pull", ref)
	if connects("tinyproxy2.log") == 0 {
		t.Fatal("the pull did not go through the proxy GNOME's setting names")
	}
	gset("set", "org.gnome.system.proxy.https", "port", proxyPort)
	changed := time.Now()
	for {
		e.docker("rmi", ref)
		e.docker("pull", ref)
		if connects("tinyproxy.log") > first {
			break
		}
		if time.Since(changed) > time.Minute {
			t.Fatal("a minute after GNOME's proxy setting changed, pulls still use the old proxy")
		}
		time.Sleep(time.Second)
	}
	t.Logf("GNOME proxy setting changed: followed by a pull %.1fs later, without a restart", time.Since(changed).Seconds())

	// The host's proxy goes away: the next pull fails at once with Berth's
	// 502 (dockerd shows only its status), and the daemon log says why.
	e.docker("rmi", ref)
	exec.Command("nft", "add", "rule", "inet", "berth_e2e_proxy", "out", "tcp", "dport", proxyPort, "reject", "with", "tcp", "reset").Run()
	out, err := e.dockerErr("pull", ref)
	if err == nil || !strings.Contains(out, "Bad Gateway") {
		t.Errorf("pull without the host's proxy: %v\n%s", err, out)
	}
	t.Logf("pull without the host's proxy: %s", out)
	if logs := e.berth("logs", "-n", "400"); !strings.Contains(logs, "connect to the host's proxy http://127.0.0.1:"+proxyPort) {
		t.Errorf("the daemon log does not say the host's proxy is gone:\n%s", logs)
	}
}
