//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// withCLIPlugins gives e's docker CLI the buildx and compose plugins that
// `make e2e` unpacks from Debian's docker-buildx and docker-compose
// packages (static binaries, nothing installed on the host).
func withCLIPlugins(t *testing.T, e *berthEnv) {
	src := os.Getenv("BERTH_CLI_PLUGINS")
	if src == "" {
		t.Fatal("BERTH_CLI_PLUGINS is not set: run `make e2e`")
	}
	dst := filepath.Join(e.dockerCfg, "cli-plugins")
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"docker-buildx", "docker-compose"} {
		if err := os.Symlink(filepath.Join(src, p), filepath.Join(dst, p)); err != nil {
			t.Fatal(err)
		}
	}
}

// Docker as projects use it, on one machine: BuildKit builds, a compose
// project, and a Testcontainers test.
func TestDockerTools(t *testing.T) {
	e := newBerthEnv(t)
	withCLIPlugins(t, e)
	e.berth("start")
	t.Logf("engine: %s", e.docker("version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})"))
	t.Run("BuildKit", func(t *testing.T) { testBuildKit(t, e) })
	t.Run("Compose", func(t *testing.T) { testCompose(t, e) })
	t.Run("Testcontainers", func(t *testing.T) { testTestcontainers(t, e) })
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// BuildKit through Berth: COPY from a context in a shared folder, a cache
// mount that outlives a build, a stage FROM an image built earlier in the
// test; and the legacy builder still works.
func testBuildKit(t *testing.T, e *berthEnv) {
	if v := e.docker("buildx", "version"); !strings.Contains(v, "buildx") {
		t.Fatalf("buildx version: %s", v)
	}
	ctxDir := t.TempDir() // under the temp folder, which Berth shares
	writeFiles(t, ctxDir, map[string]string{
		"base/Dockerfile": "FROM berth/welcome\nRUN echo base-layer > /base.txt\n",
		"app/Dockerfile": `FROM berth/e2e-base:1 AS build
COPY input.txt /src/input.txt
RUN --mount=type=cache,target=/cache sh -c 'cat /src/input.txt >> /cache/log && wc -l < /cache/log > /src/count'
FROM berth/welcome
COPY --from=build /base.txt /base.txt
COPY --from=build /src/count /count
`,
		"app/input.txt": "one\n",
	})
	out := e.docker("build", "-t", "berth/e2e-base:1", filepath.Join(ctxDir, "base"))
	if !strings.Contains(out, "load build definition") {
		t.Fatalf("docker build did not go through BuildKit:\n%s", out)
	}
	e.docker("build", "-t", "berth/e2e-app:1", filepath.Join(ctxDir, "app"))
	if got := e.docker("run", "--rm", "berth/e2e-app:1", "cat", "/base.txt", "/count"); !regexp.MustCompile(`^base-layer\s+1$`).MatchString(got) {
		t.Fatalf("first build: %q", got)
	}
	// A changed input reruns the step; the cache mount still holds the
	// first build's line.
	writeFiles(t, ctxDir, map[string]string{"app/input.txt": "two\n"})
	e.docker("build", "-t", "berth/e2e-app:2", filepath.Join(ctxDir, "app"))
	if got := e.docker("run", "--rm", "berth/e2e-app:2", "cat", "/count"); strings.TrimSpace(got) != "2" {
		t.Fatalf("second build's count %q: the cache mount did not persist", got)
	}

	writeFiles(t, ctxDir, map[string]string{"legacy/Dockerfile": "FROM berth/welcome\nCOPY hello /hello\n", "legacy/hello": "legacy\n"})
	cmd := exec.Command("docker", "--context", "berth", "build", "-t", "berth/e2e-legacy:1", filepath.Join(ctxDir, "legacy"))
	cmd.Env = append(e.env(), "DOCKER_BUILDKIT=0")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Step 1/2") {
		t.Fatalf("legacy build: %v\n%s", err, out)
	}
	if got := e.docker("run", "--rm", "berth/e2e-legacy:1", "cat", "/hello"); got != "legacy" {
		t.Fatalf("legacy image: %q", got)
	}
}

// A compose project as compose files are written: two services, a named
// volume, a bind of the project folder, a port on 127.0.0.1, depends_on a
// healthy service; up --wait, ps, logs, exec, down -v.
func testCompose(t *testing.T, e *berthEnv) {
	proj := t.TempDir()
	writeFiles(t, proj, map[string]string{
		"index.html": "<h1>from the project folder</h1>\n",
		"compose.yaml": `services:
  db:
    image: berth/welcome
    command: ["sh", "-c", "sleep 2 && echo db-ready && touch /ready && exec httpd -f -p 80 -h /data"]
    volumes: ["dbdata:/data"]
    healthcheck:
      test: ["CMD", "test", "-f", "/ready"]
      interval: 1s
      retries: 30
  web:
    image: berth/welcome
    depends_on:
      db:
        condition: service_healthy
    ports: ["127.0.0.1:18390:80"]
    volumes: [".:/www:ro"]
volumes:
  dbdata:
`,
	})
	compose := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("docker", append([]string{"--context", "berth", "compose", "-p", "berthe2e"}, args...)...)
		cmd.Env, cmd.Dir = e.env(), proj
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker compose %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	t.Cleanup(func() {
		cmd := exec.Command("docker", "--context", "berth", "compose", "-p", "berthe2e", "down", "-v")
		cmd.Env, cmd.Dir = e.env(), proj
		cmd.Run()
	})
	began := time.Now()
	compose("up", "-d", "--wait")
	t.Logf("compose up --wait: %.1fs", time.Since(began).Seconds())
	ps := compose("ps", "--format", "{{.Service}} {{.State}} {{.Health}}")
	if !strings.Contains(ps, "db running healthy") || !strings.Contains(ps, "web running") {
		t.Fatalf("compose ps:\n%s", ps)
	}
	if _, err := waitPort("127.0.0.1:18390", true, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if code, err := httpStatus("http://127.0.0.1:18390/index.html"); err != nil || code != 200 {
		t.Fatalf("GET the project's index.html through web: %d %v", code, err)
	}
	if logs := compose("logs", "db"); !strings.Contains(logs, "db-ready") {
		t.Fatalf("compose logs db:\n%s", logs)
	}
	if got := compose("exec", "-T", "web", "cat", "/www/index.html"); !strings.Contains(got, "from the project folder") {
		t.Fatalf("compose exec: %q", got)
	}
	compose("exec", "-T", "db", "sh", "-c", "echo kept > /data/v")
	if vols := e.docker("volume", "ls", "--format", "{{.Name}}"); !strings.Contains(vols, "berthe2e_dbdata") {
		t.Fatalf("volumes: %s", vols)
	}
	compose("down", "-v")
	if vols := e.docker("volume", "ls", "--format", "{{.Name}}"); strings.Contains(vols, "berthe2e_dbdata") {
		t.Fatalf("down -v left the volume: %s", vols)
	}
	if _, err := waitPort("127.0.0.1:18390", false, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

// Testcontainers for Go, pointed at Berth the two ways its documentation
// gives (it reads no docker context): DOCKER_HOST from `berth docker-env`,
// and tc.host in ~/.testcontainers.properties.
func testTestcontainers(t *testing.T, e *berthEnv) {
	probe := filepath.Join(t.TempDir(), "tcprobe")
	if out, err := exec.Command("go", "build", "-tags", "e2e", "-o", probe, "./tcprobe").CombinedOutput(); err != nil {
		t.Fatalf("build tcprobe: %v\n%s", err, out)
	}
	host := strings.TrimPrefix(e.berth("docker-env"), "export DOCKER_HOST=")
	if !strings.HasPrefix(host, "unix://") {
		t.Fatalf("berth docker-env: %q", host)
	}
	withProps := t.TempDir()
	writeFiles(t, withProps, map[string]string{".testcontainers.properties": "tc.host=" + host + "\n"})
	for _, c := range []struct {
		how string
		env []string
	}{
		{"DOCKER_HOST from berth docker-env", []string{"DOCKER_HOST=" + host, "HOME=" + t.TempDir()}},
		{"tc.host in ~/.testcontainers.properties", []string{"HOME=" + withProps}},
	} {
		cmd := exec.Command(probe)
		// Ryuk, the reaper, is an image from a registry, which is out of reach.
		cmd.Env = append(append(e.env(), "TESTCONTAINERS_RYUK_DISABLED=true"), c.env...)
		// Testcontainers takes a machine with /.dockerenv for a container and
		// looks for published ports on its bridge gateway; some CI machines
		// have the file. On a user's machine ports are on localhost.
		if _, err := os.Stat("/.dockerenv"); err == nil {
			cmd.Env = append(cmd.Env, "TESTCONTAINERS_HOST_OVERRIDE=localhost")
		}
		began := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), ": 200,") {
			t.Fatalf("Testcontainers with %s: %v\n%s", c.how, err, out)
		}
		t.Logf("Testcontainers with %s: %.1fs: %s", c.how, time.Since(began).Seconds(), lastLine(string(out)))
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
