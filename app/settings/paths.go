package settings

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Paths are the directories Berth keeps its state in.
type Paths struct {
	Config string // settings
	Data   string // disk images, logs
	Run    string // sockets and locks; short, since unix socket paths are limited to ~104 bytes
	// VM is the VM's name in the hypervisor (the libvirt domain); empty means "berth".
	VM string
}

// VMName is the VM's name in the hypervisor. Each BERTH_HOME has its
// own, so two homes on one hypervisor (root's system libvirtd, tests side by
// side) never drive or recover each other's VM.
func (p Paths) VMName() string {
	if p.VM == "" {
		return "berth"
	}
	return p.VM
}

// DefaultPaths follows each OS's conventions. BERTH_HOME, when set, puts all
// three directories under it so tests and CI stay self-contained.
func DefaultPaths() (Paths, error) {
	if h := os.Getenv("BERTH_HOME"); h != "" {
		return HomePaths(h)
	}
	switch runtime.GOOS {
	case "windows":
		roaming, err := os.UserConfigDir() // %APPDATA%
		if err != nil {
			return Paths{}, fmt.Errorf("finding the config directory: %w", err)
		}
		local, err := os.UserCacheDir() // %LOCALAPPDATA%
		if err != nil {
			return Paths{}, fmt.Errorf("finding the local data directory: %w", err)
		}
		return windowsPaths(roaming, local), nil
	case "darwin":
		home, err := os.UserHomeDir()
		if err != nil {
			return Paths{}, fmt.Errorf("finding the home directory: %w", err)
		}
		return darwinPaths(home, os.Getuid()), nil
	default:
		home, err := os.UserHomeDir()
		if err != nil {
			return Paths{}, fmt.Errorf("finding the home directory: %w", err)
		}
		run := userTempDir()
		if d := xdg("XDG_RUNTIME_DIR", ""); d != "" {
			run = filepath.Join(d, "berth")
		}
		return Paths{
			Config: filepath.Join(xdg("XDG_CONFIG_HOME", filepath.Join(home, ".config")), "berth"),
			Data:   filepath.Join(xdg("XDG_DATA_HOME", filepath.Join(home, ".local", "share")), "berth"),
			Run:    run,
		}, nil
	}
}

// darwinPaths are a Mac user's directories: settings and disks in
// ~/Library/Application Support/Berth, sockets and the lock in
// MacRunDir's.
func darwinPaths(home string, uid int) Paths {
	app := filepath.Join(home, "Library", "Application Support", "Berth")
	return Paths{Config: app, Data: app, Run: MacRunDir(home, uid)}
}

// sunPathMax is the longest unix socket path macOS takes: sun_path is 104
// bytes there, the terminating NUL included (Linux's is 108).
const sunPathMax = 103

// longestSocketName is the longest name of a socket Berth makes in the run
// directory (docker.sock; berth.sock, net.sock and pprof.sock are shorter).
const longestSocketName = "docker.sock"

// checkSocketRoom refuses a run directory (BERTH_HOME's, typically) too
// long for the sockets in it on goos, before a listen fails obscurely.
func checkSocketRoom(goos, dir string) error {
	limit := sunPathMax
	switch goos {
	case "windows":
		return nil // named pipes, and AF_UNIX's limit is Windows's own
	case "linux":
		limit = 108 // sun_path is 108 bytes; Go takes a path that fills it
	}
	if sock := filepath.Join(dir, longestSocketName); len(sock) > limit {
		return fmt.Errorf("the run directory %s is too long for unix sockets: %s is %d bytes, %s allows %d; set BERTH_HOME to a shorter directory", dir, sock, len(sock), goos, limit)
	}
	return nil
}

// RunDirFits tells whether every socket in dir fits macOS's limit.
func RunDirFits(dir string) bool {
	return len(filepath.Join(dir, longestSocketName)) <= sunPathMax
}

// MacRunDir is the run directory of the user with this home and uid on
// macOS: ~/.berth/run, the same for the CLI in a terminal, the dashboard
// started from Finder and the login item started by launchd. It used to be
// $TMPDIR, which launchd may set differently from a terminal's (and which
// a shell's user may change): processes of one user then looked for the
// lock and the sockets in different places, and two daemons could open one
// data disk.
//
// The path is short (like Docker Desktop's ~/.docker/run and Lima's
// ~/.lima/NAME) and has no space, so DOCKER_HOST=unix://… needs no quoting.
// A home so long that a socket there would pass macOS's 104-byte limit
// gets /tmp/berth-UID instead: also stable, and Ensure makes it 0700 and
// refuses it when another user owns it.
func MacRunDir(home string, uid int) string {
	if dir := filepath.Join(home, ".berth", "run"); RunDirFits(dir) {
		return dir
	}
	return filepath.Join("/tmp", "berth-"+strconv.Itoa(uid))
}

// windowsPaths are a Windows user's directories, from %APPDATA% and
// %LOCALAPPDATA%. Hyper-V's VMs (and the console pipes named after them)
// are shared by all users of the host: each user's machine is named for
// their own directory, or a second user's start would replace the first
// user's VM.
func windowsPaths(roaming, local string) Paths {
	data := filepath.Join(local, "Berth")
	return Paths{
		Config: filepath.Join(roaming, "Berth"), Data: data, Run: filepath.Join(data, "run"),
		VM: machineFor(strings.ToLower(data)), // Windows paths ignore case
	}
}

// WindowsProfilePaths are the paths of the Windows user whose profile
// folder is profile (ProfileList's ProfileImagePath): %APPDATA% and
// %LOCALAPPDATA% where Windows puts them, AppData\Roaming and
// AppData\Local. An elevated process (the installer stopping every
// user's Berth) finds other users' daemons this way; a user's own Berth
// uses DefaultPaths.
func WindowsProfilePaths(profile string) Paths {
	return windowsPaths(filepath.Join(profile, "AppData", "Roaming"), filepath.Join(profile, "AppData", "Local"))
}

// HomePaths are the paths BERTH_HOME=home gives.
func HomePaths(home string) (Paths, error) {
	abs, err := filepath.Abs(home)
	if err != nil {
		return Paths{}, fmt.Errorf("BERTH_HOME %q: %w", home, err)
	}
	return Paths{
		Config: filepath.Join(abs, "config"), Data: filepath.Join(abs, "data"), Run: filepath.Join(abs, "run"),
		VM: machineFor(abs),
	}, nil
}

// machineFor names the machine whose files live under dir.
func machineFor(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return "berth-" + hex.EncodeToString(sum[:4])
}

// xdg returns an XDG base directory; the spec says relative values are invalid.
func xdg(env, fallback string) string {
	if d := os.Getenv(env); filepath.IsAbs(d) {
		return d
	}
	return fallback
}

// userTempDir is a per-user directory in the shared temp dir. Someone else may
// have created it first; Ensure refuses it then.
func userTempDir() string {
	return filepath.Join(os.TempDir(), "berth-"+strconv.Itoa(os.Getuid()))
}

// Ensure creates the directories private to the user (0700), tightens their
// mode when it is wider, and refuses directories owned by someone else.
func (p Paths) Ensure() error {
	for _, dir := range []string{p.Config, p.Data, p.Run} {
		if dir == "" {
			return errors.New("settings: empty directory in paths")
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", dir, err)
		}
		fi, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("checking %s: %w", dir, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		if err := checkOwner(dir, fi); err != nil {
			return err
		}
		if dir == p.Run {
			if err := checkSocketRoom(runtime.GOOS, dir); err != nil {
				return err
			}
		}
		// Windows has no unix modes; its ACLs already make these per-user.
		if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700 {
			if err := os.Chmod(dir, 0o700); err != nil {
				return fmt.Errorf("making %s private (mode 0700): %w", dir, err)
			}
		}
	}
	return nil
}

// File is where the settings live.
func (p Paths) File() string { return filepath.Join(p.Config, fileName) }

// DataDisk is the machine's data disk image.
func (p Paths) DataDisk() string {
	if runtime.GOOS == "windows" {
		return filepath.Join(p.Data, "data.vhdx") // Hyper-V attaches VHDX only
	}
	return filepath.Join(p.Data, "data.img")
}

// SerialLog is the VM console's log.
func (p Paths) SerialLog() string { return filepath.Join(p.Data, "serial.log") }

// DaemonLog is where a background daemon's output goes.
func (p Paths) DaemonLog() string { return filepath.Join(p.Data, "daemon.log") }

// ControlSocket is the daemon's API socket.
func (p Paths) ControlSocket() string { return filepath.Join(p.Run, "berth.sock") }

// NetSocket is the unix socket of the VM's NIC on the virtual network.
func (p Paths) NetSocket() string { return filepath.Join(p.Run, "net.sock") }

// DockerSocket is where Berth's docker API listens: a unix socket in the
// run directory, or on Windows a named pipe, where the docker CLI speaks
// npipe://. Pipes share one namespace: the name carries a hash of the run
// directory, so two users' Berths do not collide.
func (p Paths) DockerSocket() string {
	if runtime.GOOS == "windows" {
		return fmt.Sprintf(`\\.\pipe\berth-docker-%08x`, crc32.ChecksumIEEE([]byte(p.Run)))
	}
	return filepath.Join(p.Run, "docker.sock")
}
