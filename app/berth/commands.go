package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/berthvm/berth/app/allusers"
	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/app/dockerctx"
	"github.com/berthvm/berth/app/launcher"
	"github.com/berthvm/berth/app/settings"
	"github.com/berthvm/berth/app/shellenv"
	"github.com/berthvm/berth/filesharing"
	"github.com/berthvm/berth/internal/bytesize"
	"github.com/berthvm/berth/netproxy/relay"
)

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("berth "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	return fs
}

func paths() (settings.Paths, error) {
	p, err := settings.DefaultPaths()
	if err != nil {
		return p, err
	}
	return p, p.Ensure()
}

// startFlags are `berth start`'s flags: each one given changes its setting.
type startFlags struct {
	fs       *flag.FlagSet
	cpus     *int
	memory   *string
	disk     *int
	activate *bool
	logSize  *string
	logFiles *int
	proxy    *bool
	cas      *bool
	mounts   []filesharing.Share
	unmounts []string
}

func newStartFlags() *startFlags {
	f := &startFlags{fs: newFlags("start")}
	fs := f.fs
	f.cpus = fs.Int("cpus", 0, "virtual CPUs")
	f.memory = fs.String("memory", "", "memory in GiB (e.g. 4, 2.5, 512M)")
	f.disk = fs.Int("disk", 0, "data disk size in GiB (it can only grow)")
	f.activate = fs.Bool("activate", false, "make the berth docker context current")
	f.logSize = fs.String("container-log-size", "", "the engine's limit on each file of a container's log, in MiB (e.g. 10, 100M, 1G; default 10); for containers created after the next start")
	f.logFiles = fs.Int("container-log-files", 0, "how many files of a container's log the engine keeps (default 3); for containers created after the next start")
	f.proxy = fs.Bool("container-proxy", false, "give containers and builds the host's proxy (through Berth's proxy on the VM's gateway); the engine's own pulls always use it")
	f.cas = fs.Bool("container-cas", false, "give containers created from now on the CAs the host trusts (the VM's trust store over /etc/ssl/certs/ca-certificates.crt); the engine always trusts them")
	fs.Func("mount", "share a host folder with the VM at the same path: PATH or PATH:ro (repeatable)", func(v string) error {
		sh, err := filesharing.ParseMount(runtime.GOOS, v)
		if err != nil {
			return err
		}
		if sh.HostPath, err = filepath.Abs(sh.HostPath); err != nil {
			return err
		}
		f.mounts = append(f.mounts, sh)
		return nil
	})
	fs.Func("unmount", "stop sharing a host folder (repeatable)", func(v string) error {
		f.unmounts = append(f.unmounts, v)
		return nil
	})
	return f
}

// apply is saved with the flags given changed; Validate checks the result.
func (f *startFlags) apply(saved settings.Settings) (settings.Settings, error) {
	s := saved
	var err error
	if *f.cpus != 0 || flagSet(f.fs, "cpus") {
		s.CPUs = *f.cpus
	}
	if *f.memory != "" {
		if s.MemoryMiB, err = settings.ParseGiB(*f.memory); err != nil {
			return s, fmt.Errorf("--memory: %w", err)
		}
	}
	if *f.disk != 0 || flagSet(f.fs, "disk") {
		s.DiskGiB = *f.disk
	}
	if flagSet(f.fs, "activate") {
		s.Activate = *f.activate
	}
	if flagSet(f.fs, "container-log-size") {
		if s.ContainerLogMiB, err = settings.ParseLogSize(*f.logSize); err != nil {
			return s, fmt.Errorf("--container-log-size: %w", err)
		}
	}
	if flagSet(f.fs, "container-log-files") {
		s.ContainerLogFiles = *f.logFiles
	}
	if flagSet(f.fs, "container-proxy") {
		s.ContainerProxy = *f.proxy
	}
	if flagSet(f.fs, "container-cas") {
		s.ContainerCAs = *f.cas
	}
	s.Shares = slices.Clone(s.Shares)
	for _, path := range f.unmounts {
		if s.Shares, err = filesharing.Remove(runtime.GOOS, s.Shares, path); err != nil {
			return s, err
		}
	}
	for _, sh := range f.mounts {
		s.Shares = filesharing.Add(runtime.GOOS, s.Shares, sh)
	}
	return s, nil
}

func cmdStart(args []string) error {
	f := newStartFlags()
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	p, err := paths()
	if err != nil {
		return err
	}
	host := settings.ThisHost()
	saved, err := settings.Load(p, host)
	if err != nil {
		return err
	}
	s, err := f.apply(saved)
	if err != nil {
		return err
	}
	if err := s.ValidateAgainstDisk(p, host); err != nil {
		return err
	}
	changed := !s.Equal(saved)
	if changed {
		if err := settings.Save(p, s); err != nil {
			return err
		}
	}
	c, err := launcher.Ensure(context.Background(), p, "")
	if err != nil {
		return err
	}
	st, err := c.Status(context.Background())
	if err != nil {
		return err
	}
	if st.State == control.Running {
		fmt.Println("Berth is already running.")
		if changed {
			fmt.Println("The new settings take effect after `berth restart`.")
		}
		return nil
	}
	return startAndFollow(c)
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// startAndFollow asks for a start and prints progress until the machine is
// running, has failed, or was stopped by someone else.
func startAndFollow(c *control.Client) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	began := time.Now()
	first := true
	last, err := c.StartFollow(ctx, func(e control.Event) {
		if first {
			first = false
			if e.State == control.Starting {
				fmt.Println("Berth is already starting; following it.")
			}
			return
		}
		if e.State == control.Starting && e.Step != "" {
			fmt.Printf("  %5.1fs  %s\n", time.Since(began).Seconds(), e.Step)
		}
	})
	if errors.Is(err, context.Canceled) {
		fmt.Println("\nStill starting in the background; `berth status` tells.")
		return nil
	}
	if err != nil {
		return err
	}
	st, _ := c.Status(ctx)
	switch last.State {
	case control.Running:
		fmt.Printf("Berth is running (%.1fs).\n\n", time.Since(began).Seconds())
		printDockerHints(st)
		return nil
	case control.Error:
		return fmt.Errorf("%s\n  daemon log: %s\n  VM console: %s", last.Reason, st.DaemonLog, st.SerialLog)
	}
	return errors.New("Berth was stopped before it finished starting (by `berth stop` or the dashboard)")
}

// printProblems shows what the host decided (emulation, and why) and what
// the guest could not do but booted without (a shared folder that did not
// mount, a module that did not load).
func printProblems(st control.Status) {
	for _, n := range st.Notes {
		fmt.Printf("note: %s\n", n)
	}
	if st.Guest == nil {
		return
	}
	for _, p := range st.Guest.Problems {
		fmt.Printf("warning: %s\n", p)
	}
}

func printDockerHints(st control.Status) {
	printProblems(st)
	if hint := dockerctx.MissingCLI(runtime.GOOS, st.Context, exec.LookPath); hint != "" {
		fmt.Println(hint)
		return
	}
	store := dockerctx.DefaultStore()
	if cur, err := store.Current(); err == nil && cur == st.Context {
		fmt.Printf("The docker context %q is current: docker talks to Berth.\n", st.Context)
		return
	}
	fmt.Printf("Use it with:  docker --context %s ...\n", st.Context)
	fmt.Printf("   or make it the default:  docker context use %s   (or berth start --activate)\n", st.Context)
	fmt.Printf("   or for tools that ignore contexts:  export DOCKER_HOST=%s\n", dockerctx.HostURL(st.DockerSocket))
}

func cmdStop(args []string) error {
	fs := newFlags("stop")
	force := fs.Bool("force", false, "power off at once, without stopping containers first")
	all := fs.Bool("all-users", false, "Windows, as administrator: stop every user's Berth (what the installer does before an upgrade)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *all {
		return stopAllUsers()
	}
	p, err := paths()
	if err != nil {
		return err
	}
	c := launcher.Client{Paths: p}
	st, err := c.Status(context.Background())
	if err != nil {
		return err
	}
	if st.State == control.Stopped {
		fmt.Println("Berth is not running.")
		return nil
	}
	if st.DiskStall != nil && !*force {
		// The daemon makes it a forced stop: a clean one would hang.
		fmt.Printf("The VM's disk (%s) stopped answering: powering the VM off without stopping containers...\n", st.DiskStall.Device)
	} else {
		fmt.Println("Stopping Berth (containers get their stop timeout)...")
	}
	began := time.Now()
	if err := c.Stop(context.Background(), *force); err != nil {
		return err
	}
	fmt.Printf("Berth is stopped (%.1fs).\n", time.Since(began).Seconds())
	return nil
}

// stopAllUsers stops the machine of every user of this computer and says
// what happened to each; it fails when one could not be stopped, after
// trying all.
func stopAllUsers() error {
	profiles, err := allusers.ThisComputer()
	if len(profiles) == 0 && err != nil {
		return err
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "berth stop: some profiles could not be read: %v\n", err)
	}
	reports := allusers.DefaultStopper.StopAll(context.Background(), profiles)
	failed := 0
	for _, r := range reports {
		fmt.Println(r)
		if !r.OK() {
			failed++
		}
	}
	fmt.Printf("%d user profiles, %d with Berth.\n", len(profiles), len(reports))
	if failed > 0 {
		return fmt.Errorf("the Berth of %d of %d users could not be stopped (see above)", failed, len(reports))
	}
	return nil
}

func cmdRestart(args []string) error {
	if err := cmdStop(nil); err != nil {
		return err
	}
	return cmdStart(args)
}

// diskStallStatus is status's report of a disk of the running VM that
// stopped answering, or "".
func diskStallStatus(st control.Status, now time.Time) string {
	if st.State != control.Running || st.DiskStall == nil {
		return ""
	}
	return "disk:    STOPPED ANSWERING (" + st.DiskStall.Device + ")\n" +
		"problem: " + control.DiskStallText(st.DiskStall, now) + "\n"
}

// containerLogsStatus is status's line on the engine's limit on container
// logs that the machine started with, or "" when the daemon does not say.
func containerLogsStatus(st control.Status) string {
	if st.ContainerLogMiB == 0 || st.ContainerLogFiles == 0 {
		return ""
	}
	files := "files"
	if st.ContainerLogFiles == 1 {
		files = "file"
	}
	return fmt.Sprintf("logs:    each container's log is kept to %d %s of %s\n", st.ContainerLogFiles, files, bytesize.MiB(st.ContainerLogMiB))
}

// casStatus is status's line on the host CAs carried into the guest's
// trust store, or "" before the guest asked for them.
func casStatus(st control.Status) string {
	if st.CAs == nil {
		return ""
	}
	from := "the host"
	if len(st.CAs.From) > 0 {
		from = strings.Join(st.CAs.From, ", ")
	}
	return fmt.Sprintf("CAs:     %d of the host's trusted certificates carried into the engine (from %s)\n", st.CAs.Carried, from)
}

// printJSON prints v for scripts (--json).
func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func cmdStatus(args []string) error {
	fs := newFlags("status")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := paths()
	if err != nil {
		return err
	}
	st, err := launcher.Client{Paths: p}.Status(context.Background())
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(st)
	}
	fmt.Printf("state:   %s", st.State)
	if st.Step != "" {
		fmt.Printf(" (%s)", st.Step)
	}
	fmt.Println()
	fmt.Print(diskStallStatus(st, time.Now()))
	if st.Reason != "" {
		fmt.Printf("reason:  %s\n", st.Reason)
	}
	if st.State == control.Stopped && st.DaemonPid == 0 {
		return nil
	}
	fmt.Printf("machine: %d CPUs, %.1f GiB memory, %d GiB disk\n", st.CPUs, float64(st.MemoryMiB)/1024, st.DiskGiB)
	fmt.Print(containerLogsStatus(st))
	if st.State == control.Running {
		fmt.Printf("docker:  context %q, socket %s\n", st.Context, st.DockerSocket)
		if g := st.Guest; g != nil {
			fmt.Printf("engine:  docker %s (API %s), kernel %s, up %.0fs\n", g.Versions.Docker, g.Versions.DockerAPI, g.Versions.Kernel, g.Uptime)
		}
		fmt.Print(casStatus(st))
		printProblems(st)
		for _, sh := range st.Shares {
			mode := "read-write"
			if sh.ReadOnly {
				mode = "read-only"
			}
			fmt.Printf("shared:  %s (%s)\n", sh.HostPath, mode)
		}
		for _, p := range control.Publications(st.Forwards) {
			fmt.Println(publicationLine(p))
		}
	}
	return nil
}

func cmdDelete(args []string) error {
	fs := newFlags("delete")
	force := fs.Bool("force", false, "do not ask for confirmation")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*force {
		fmt.Print("This deletes the Berth machine with all its images, containers and volumes. Continue? [y/N] ")
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return errors.New("not deleted (use --force to skip this question)")
		}
	}
	p, err := paths()
	if err != nil {
		return err
	}
	c, err := launcher.Ensure(context.Background(), p, "")
	if err != nil {
		return err
	}
	if err := c.Delete(context.Background()); err != nil {
		return err
	}
	fmt.Println("Berth's machine and data disk are deleted. `berth start` creates a new one.")
	return nil
}

func cmdLogs(args []string) error {
	fs := newFlags("logs")
	n := fs.Int("n", 50, "lines of each log")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := paths()
	if err != nil {
		return err
	}
	for _, f := range []struct{ title, path string }{
		{"daemon", p.DaemonLog()},
		{"VM console", p.SerialLog()},
	} {
		fmt.Printf("==> %s (%s) <==\n%s\n", f.title, f.path, launcher.Tail(f.path, *n))
	}
	return nil
}

func cmdDockerEnv(args []string) error {
	fs := newFlags("docker-env")
	shell := fs.String("shell", shellenv.Default(runtime.GOOS), "the syntax: "+strings.Join(shellenv.Shells, ", "))
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := paths()
	if err != nil {
		return err
	}
	line, err := shellenv.Set(*shell, "DOCKER_HOST", dockerctx.HostURL(p.DockerSocket()))
	if err != nil {
		return err
	}
	fmt.Println(line)
	return nil
}

func cmdVersion(args []string) error {
	fmt.Printf("berth %s (%s/%s, %s)\n", version, runtime.GOOS, runtime.GOARCH, runtime.Version())
	// Where the daemon would boot from: an installed package's own image
	// or a build tree's.
	if dir, err := findGuest(); err == nil {
		fmt.Printf("guest image: %s\n", dir)
	} else {
		fmt.Printf("guest image: %v\n", err)
	}
	if p, err := paths(); err == nil {
		if st, err := (launcher.Client{Paths: p}).Status(context.Background()); err == nil && st.Guest != nil {
			v := st.Guest.Versions
			fmt.Printf("guest: docker %s (API %s), containerd %s, kernel %s, guestd %s\n", v.Docker, v.DockerAPI, v.Containerd, v.Kernel, v.Guestd)
		}
	}
	return nil
}

func cmdShell(args []string) error {
	fs := newFlags("shell")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := paths()
	if err != nil {
		return err
	}
	in := int(os.Stdin.Fd())
	tty := term.IsTerminal(in) && term.IsTerminal(int(os.Stdout.Fd()))
	cols, rows, _ := term.GetSize(int(os.Stdout.Fd()))
	conn, br, err := control.Shell(p.ControlSocket(), fs.Args(), tty, rows, cols, os.Getenv("TERM"))
	if err != nil {
		return err
	}
	defer conn.Close()
	if tty {
		old, err := term.MakeRaw(in)
		if err != nil {
			return err
		}
		defer term.Restore(in, old) //nolint:errcheck // deferred: the terminal is left as it is
	}
	go func() {
		io.Copy(conn, os.Stdin)
		relay.CloseWrite(conn)
	}()
	io.Copy(os.Stdout, br)
	return nil
}

// publicationLine is a published port in berth status: as the user asked
// for it, where the host listens when that is more than one address, and
// what failed.
func publicationLine(p control.Publication) string {
	line := fmt.Sprintf("port:    %s %s", p.Container, p.Published)
	if len(p.HostIPs) > 0 && len(p.HostIPs)+len(p.Failed) > 1 {
		line += " (on " + strings.Join(p.HostIPs, ", ") + ")"
	}
	for _, e := range p.Errors {
		line += "  ERROR: " + e
	}
	return line
}
