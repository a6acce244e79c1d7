//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Isolation: no container, on the default bridge, a user network or the
// host's network, reaches the guest API, the engine's TCP port or the
// host's sockets (the daemon listens on no TCP port of its own, and its
// unix sockets do not answer through a shared folder); Berth's sockets are
// 0600 in 0700 folders, and another local user can neither connect to
// them nor read the data disk or the settings.
func TestReliabilityIsolation(t *testing.T) {
	t.Parallel()
	e := newBerthEnv(t)
	image := buildBusyboxWithTool(t, "unixdial")
	e.berth("start", "--cpus", "2", "--memory", "2", "--disk", "16")
	st := e.status()
	e.docker("load", "-i", image)
	run := filepath.Join(e.home, "run")
	ctlSock := filepath.Join(run, "berth.sock")

	t.Run("the daemon listens on no TCP port", func(t *testing.T) {
		if ports := tcpListeners(t, st.DaemonPid); len(ports) > 0 {
			t.Errorf("the daemon listens on TCP ports %v with nothing published", ports)
		}
	})

	t.Run("containers reach no guest service", func(t *testing.T) {
		guestPrivateServices(t, st.DockerSocket, *st.Guest)
	})

	t.Run("host sockets do not answer through a share", func(t *testing.T) {
		// The run folder is under the shared temp folder here: a container
		// may mount it, and must still reach nothing.
		out := e.docker("run", "--rm", "-v", run+":/hostrun", testImage,
			"unixdial", "/hostrun/berth.sock", "/hostrun/docker.sock")
		t.Logf("ISOLATION unix sockets from a container: %s", strings.ReplaceAll(out, "\n", "; "))
		if lines := strings.Split(out, "\n"); len(lines) != 2 || strings.Contains(out, ": connected") {
			t.Errorf("a container reached a host socket: %s", out)
		}
	})

	t.Run("modes", func(t *testing.T) {
		for _, dir := range []string{"config", "data", "run"} {
			if fi, err := os.Stat(filepath.Join(e.home, dir)); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("%s: mode %v, %v; want 0700", dir, fi.Mode().Perm(), err)
			}
		}
		entries, err := os.ReadDir(run)
		if err != nil {
			t.Fatal(err)
		}
		var socks []string
		for _, de := range entries {
			if fi, err := de.Info(); err == nil && fi.Mode().Type() == os.ModeSocket {
				socks = append(socks, fmt.Sprintf("%s %v", de.Name(), fi.Mode().Perm()))
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("socket %s has mode %v, want 0600", de.Name(), fi.Mode().Perm())
				}
			}
		}
		t.Logf("ISOLATION sockets: %s", strings.Join(socks, ", "))
		for _, sock := range []string{ctlSock, st.DockerSocket} {
			if !slices.Contains(socks, filepath.Base(sock)+" -rw-------") {
				t.Errorf("%s is not a 0600 socket in the run folder (%v)", sock, socks)
			}
		}
	})

	t.Run("another user", func(t *testing.T) {
		other := newLinuxUser(t, "berthother")
		// Open the test's own folders above Berth's, so that only Berth's
		// modes stand between the other user and its files.
		for dir := e.home; dir != os.TempDir() && dir != "/"; dir = filepath.Dir(dir) {
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		settingsFile := filepath.Join(e.home, "config", "settings.json")
		if _, err := os.Stat(settingsFile); err != nil {
			t.Fatal(err) // the start above wrote it
		}
		for _, c := range []struct {
			what string
			cmd  []string
		}{
			{"connect to the control socket", []string{"docker", "-H", "unix://" + ctlSock, "version"}},
			{"connect to the docker socket", []string{"docker", "-H", "unix://" + st.DockerSocket, "version"}},
			{"read the data disk", []string{"head", "-c", "1", filepath.Join(e.home, "data", "data.img")}},
			{"read the settings", []string{"cat", settingsFile}},
			{"list the run folder", []string{"ls", run}},
		} {
			out, err := other.runErr(c.cmd...)
			t.Logf("ISOLATION another user may not %s: %s", c.what, lastLine(out))
			if err == nil || !strings.Contains(strings.ToLower(out), "permission denied") {
				t.Errorf("another user could %s (%v): %s", c.what, err, out)
			}
		}
	})
}

// tcpListeners returns the TCP ports process pid listens on.
func tcpListeners(t *testing.T, pid int) []int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var ports []int
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] { // 0A: LISTEN
				continue
			}
			_, hexPort, _ := strings.Cut(fields[1], ":")
			if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil {
				ports = append(ports, int(p))
			}
		}
		f.Close()
	}
	return ports
}
