//go:build linux

// Package engine runs the container engine in the guest: containerd and
// dockerd from Debian's docker.io, under supervision. It talks to dockerd's
// API over the in-guest unix socket for readiness, the offline image
// preload and a graceful stop of containers at shutdown.
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Paths inside the guest.
const (
	DockerSocket     = "/var/run/docker.sock"
	ContainerdSocket = "/run/containerd/containerd.sock"
)

// ContainerdCommand builds containerd's command line.
func ContainerdCommand() *exec.Cmd {
	return exec.Command("containerd", "--log-level", "warn")
}

// DockerdCommand builds dockerd's command line. It listens on its unix socket
// for the guest and on tcpAddr (eth0) for the host. --tls=false keeps dockerd
// from pausing 15 s to warn about an unauthenticated TCP listener: the guest
// firewall and the host's private virtual network are the access control.
// hostGateway is what --add-host NAME:host-gateway resolves to: the engine's
// default, its own bridge's gateway, is the VM, not the host the user means.
// mtu is eth0's: containers on the default bridge get it too, so that their
// TCP connections to the host (published ports, docker cp) carry segments
// as large as the link does instead of 1500-byte ones.
// logMiB and logFiles are the default limit on each container's log
// (json-file and local drivers keep at most logFiles files of logMiB MiB),
// so that no log fills the data disk; the engine applies it to containers
// it creates, a container keeps the limit it was created with.
func DockerdCommand(tcpAddr string, hostGateway netip.Addr, mtu, logMiB, logFiles int) *exec.Cmd {
	return exec.Command("dockerd",
		"--containerd="+ContainerdSocket,
		"-H", "unix://"+DockerSocket,
		"-H", "tcp://"+tcpAddr,
		"--tls=false",
		"--host-gateway-ip="+hostGateway.String(),
		"--mtu="+strconv.Itoa(mtu),
		"--log-opt", "max-size="+strconv.Itoa(logMiB)+"m",
		"--log-opt", "max-file="+strconv.Itoa(logFiles),
	)
}

// ProxyEnv is dockerd's environment for the host's forward proxy at
// gateway:port, which it uses for pulls, pushes and BuildKit's fetches
// (none when port is 0). The address never changes: the host follows its
// own proxy settings behind it, so dockerd, which reads these once, needs
// no restart. What the guest reaches without the host's network stays
// direct: loopback, the virtual network (the host's alias is NATed to the
// host's loopback) and the .internal names that resolve to it.
func ProxyEnv(gateway netip.Addr, port int, subnet netip.Prefix) []string {
	if port == 0 {
		return nil
	}
	proxy := "http://" + net.JoinHostPort(gateway.String(), strconv.Itoa(port))
	noProxy := strings.Join([]string{"localhost", "127.0.0.0/8", "::1", subnet.Masked().String(),
		"host.docker.internal", "gateway.docker.internal", ".berth.internal"}, ",")
	var env []string
	for _, kv := range [][2]string{{"HTTP_PROXY", proxy}, {"HTTPS_PROXY", proxy}, {"NO_PROXY", noProxy}} {
		env = append(env, kv[0]+"="+kv[1], strings.ToLower(kv[0])+"="+kv[1])
	}
	return env
}

// Client is a minimal dockerd API client over a unix socket.
type Client struct {
	http *http.Client
}

// NewClient talks to the engine at socket.
func NewClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}
	return &Client{http: &http.Client{Transport: tr}}
}

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://engine"+path, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-tar")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(msg)))
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Ping succeeds once the engine answers its API.
func (c *Client) Ping(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/_ping", nil, nil)
}

// WaitReady polls Ping until it succeeds or ctx ends.
func (c *Client) WaitReady(ctx context.Context) error {
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := c.Ping(pctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("engine not ready: %w (last: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Version is the part of GET /version guestd reports.
type Version struct {
	Version       string `json:"Version"`
	APIVersion    string `json:"ApiVersion"`
	KernelVersion string `json:"KernelVersion"`
	Components    []struct {
		Name    string `json:"Name"`
		Version string `json:"Version"`
	} `json:"Components"`
}

// Version asks the engine for its versions.
func (c *Client) Version(ctx context.Context) (Version, error) {
	var v Version
	err := c.do(ctx, http.MethodGet, "/version", nil, &v)
	return v, err
}

// LoadImage loads a `docker save` archive.
func (c *Client) LoadImage(ctx context.Context, archive io.Reader) error {
	// The body of a load response is a stream of JSON messages; an error
	// inside it is reported with HTTP 200.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://engine/images/load?quiet=1", archive)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("load image: %w", err)
		}
		if msg.Error != "" {
			return fmt.Errorf("load image: %s", msg.Error)
		}
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("load image: %s", resp.Status)
	}
	return nil
}

// Preload loads each image archive in dir once per data disk: a marker under
// stateDir records it, so an image the user deletes stays deleted.
func (c *Client) Preload(ctx context.Context, dir, stateDir string) ([]string, error) {
	archives, err := filepath.Glob(filepath.Join(dir, "*.tar"))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("preload images: %w", err)
	}
	var loaded []string
	for _, a := range archives {
		marker := filepath.Join(stateDir, "preloaded-"+filepath.Base(a))
		if _, err := os.Stat(marker); err == nil {
			continue
		}
		f, err := os.Open(a)
		if err != nil {
			return loaded, fmt.Errorf("preload %s: %w", a, err)
		}
		err = c.LoadImage(ctx, f)
		f.Close()
		if err != nil {
			return loaded, fmt.Errorf("preload %s: %w", a, err)
		}
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			return loaded, fmt.Errorf("preload %s: %w", a, err)
		}
		loaded = append(loaded, filepath.Base(a))
	}
	return loaded, nil
}
