// Package settings holds the per-user settings of the Berth machine and the
// directories Berth keeps its state in.
package settings

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthvm/berth/filesharing"
	"github.com/berthvm/berth/filesharing/fswatch"
	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/internal/atomicfile"
	"github.com/berthvm/berth/internal/bytesize"
	"github.com/berthvm/berth/internal/vhdx"
)

// Settings are the user's choices for the Berth machine.
type Settings struct {
	CPUs      int  `json:"cpus"`
	MemoryMiB int  `json:"memory_mib"`
	DiskGiB   int  `json:"disk_gib"`
	Activate  bool `json:"activate_context"` // make the `berth` docker context current on start
	// Shares are the host folders the VM sees at their own paths.
	Shares []filesharing.Share `json:"shares"`
	// ContainerLogMiB and ContainerLogFiles are the engine's default limit
	// on each container's log: at most that many files of that many MiB.
	// There is no unlimited (0 is refused): an unbounded log fills the
	// data disk.
	ContainerLogMiB   int `json:"container_log_mib"`
	ContainerLogFiles int `json:"container_log_files"`
	// ContainerProxy gives containers and builds the docker CLI starts the
	// engine's proxy on the gateway (the CLI's "proxies" for Berth's
	// docker host); off, only the engine's own pulls use it.
	ContainerProxy bool `json:"container_proxy,omitempty"`
	// ContainerCAs bind-mounts the guest's trust store (Debian's CAs and
	// the host's) over /etc/ssl/certs/ca-certificates.crt in containers
	// created while it is set.
	ContainerCAs bool `json:"container_cas,omitempty"`
	// FileEventsExclude names the directories in shared folders whose
	// changes are not passed to the guest (fswatch.Options.Exclude): nil
	// (absent) is fswatch.DefaultExclude, an empty list excludes nothing.
	// Set in settings.json only.
	FileEventsExclude []string `json:"file_events_exclude"`
}

// Excludes is what FileEventsExclude stands for.
func (s Settings) Excludes() []string {
	if s.FileEventsExclude == nil {
		return fswatch.DefaultExclude
	}
	return s.FileEventsExclude
}

// Equal reports whether two settings are the same.
func (s Settings) Equal(o Settings) bool {
	return s.CPUs == o.CPUs && s.MemoryMiB == o.MemoryMiB && s.DiskGiB == o.DiskGiB &&
		s.Activate == o.Activate && slices.Equal(s.Shares, o.Shares) &&
		s.ContainerLogMiB == o.ContainerLogMiB && s.ContainerLogFiles == o.ContainerLogFiles &&
		s.ContainerProxy == o.ContainerProxy && s.ContainerCAs == o.ContainerCAs &&
		(s.FileEventsExclude == nil) == (o.FileEventsExclude == nil) && slices.Equal(s.FileEventsExclude, o.FileEventsExclude)
}

// Host describes this computer, the one Berth runs on. Zero fields mean "unknown".
type Host struct {
	CPUs      int
	MemoryMiB int
	GOOS      string // path syntax of shared folders; "" is runtime.GOOS
	Home      string // the user's home and temp folders, shared by default
	Temp      string
}

// ThisHost reads the facts of this computer on a best-effort basis.
func ThisHost() Host {
	home, _ := os.UserHomeDir()
	return Host{CPUs: runtime.NumCPU(), MemoryMiB: hostMemoryMiB(), GOOS: runtime.GOOS, Home: home, Temp: os.TempDir()}
}

func (h Host) goos() string {
	if h.GOOS == "" {
		return runtime.GOOS
	}
	return h.GOOS
}

const (
	minMemoryMiB  = 1024
	hostShareMiB  = 1024 // memory left to the host when capping the VM
	minDiskGiB    = 8
	maxDiskGiB    = 2048
	defaultMemMiB = 2048
	defaultDisk   = 64
	fileName      = "settings.json"
)

// Default returns settings that leave the host comfortable: half its CPUs
// (1..4) and 2 GiB of memory, or a quarter of host memory on small machines;
// container logs of at most 3 files of 10 MiB each.
func Default(host Host) Settings {
	cpus := 2
	if host.CPUs > 0 {
		cpus = min(max(host.CPUs/2, 1), 4)
	}
	mem := defaultMemMiB
	if host.MemoryMiB > 0 {
		mem = max(min(mem, host.MemoryMiB/4), minMemoryMiB)
	}
	// Activate stays off: switching the user's docker context is their call.
	return Settings{CPUs: cpus, MemoryMiB: mem, DiskGiB: defaultDisk, Shares: filesharing.Defaults(host.goos(), host.Home, host.Temp),
		ContainerLogMiB: protocol.DefaultContainerLogMiB, ContainerLogFiles: protocol.DefaultContainerLogFiles}
}

// Validate checks s against the host's resources and, when current is not
// nil, against the settings the machine already has; it reads nothing.
// Every problem is reported, each phrased with the CLI flag and what is
// allowed.
func (s Settings) Validate(host Host, current *Settings) error {
	var errs []error
	switch {
	case host.CPUs > 0 && (s.CPUs < 1 || s.CPUs > host.CPUs):
		errs = append(errs, fmt.Errorf("--cpus %d: must be between 1 and %d (this machine has %d CPUs)", s.CPUs, host.CPUs, host.CPUs))
	case s.CPUs < 1:
		errs = append(errs, fmt.Errorf("--cpus %d: must be at least 1", s.CPUs))
	}

	maxMem := host.MemoryMiB - hostShareMiB
	switch {
	case host.MemoryMiB > 0 && maxMem < minMemoryMiB:
		errs = append(errs, fmt.Errorf("--memory %s: this machine has only %s; Berth needs %s plus about %s for the host",
			bytesize.MiB(s.MemoryMiB), roughGiB(host.MemoryMiB), bytesize.MiB(minMemoryMiB), bytesize.MiB(hostShareMiB)))
	case s.MemoryMiB < minMemoryMiB:
		errs = append(errs, fmt.Errorf("--memory %s: must be at least %s", bytesize.MiB(s.MemoryMiB), bytesize.MiB(minMemoryMiB)))
	case host.MemoryMiB > 0 && s.MemoryMiB > maxMem:
		errs = append(errs, fmt.Errorf("--memory %s: must be at most %s (this machine has %s; about %s stays with the host)",
			bytesize.MiB(s.MemoryMiB), roughGiB(maxMem), roughGiB(host.MemoryMiB), bytesize.MiB(hostShareMiB)))
	}

	switch {
	case s.DiskGiB < minDiskGiB || s.DiskGiB > maxDiskGiB:
		errs = append(errs, fmt.Errorf("--disk %d: must be between %d and %d GiB", s.DiskGiB, minDiskGiB, maxDiskGiB))
	case current != nil && s.DiskGiB < current.DiskGiB:
		// Shrinking the disk image would cut off live data, so only growth is allowed.
		errs = append(errs, fmt.Errorf("disk cannot shrink from %d GiB to %d GiB: images and volumes live there; choose %d GiB or more (or `berth delete` to start afresh)",
			current.DiskGiB, s.DiskGiB, current.DiskGiB))
	}

	// No unlimited: a container that logs without end would fill the disk.
	unlimited := ""
	if s.ContainerLogMiB <= 0 || s.ContainerLogFiles <= 0 {
		unlimited = " (logs cannot be unlimited: one busy container would fill the data disk)"
	}
	if s.ContainerLogMiB < protocol.MinContainerLogMiB || s.ContainerLogMiB > protocol.MaxContainerLogMiB {
		errs = append(errs, fmt.Errorf("--container-log-size %s: must be between %s and %s per file%s",
			bytesize.MiB(s.ContainerLogMiB), bytesize.MiB(protocol.MinContainerLogMiB), bytesize.MiB(protocol.MaxContainerLogMiB), unlimited))
	}
	if s.ContainerLogFiles < protocol.MinContainerLogFiles || s.ContainerLogFiles > protocol.MaxContainerLogFiles {
		errs = append(errs, fmt.Errorf("--container-log-files %d: must be between %d and %d%s",
			s.ContainerLogFiles, protocol.MinContainerLogFiles, protocol.MaxContainerLogFiles, unlimited))
	}

	if err := filesharing.Validate(host.goos(), s.Shares); err != nil {
		errs = append(errs, fmt.Errorf("%w (change shared folders with `berth start --mount PATH[:ro]` and `--unmount PATH`)", err))
	}
	for _, sh := range s.Shares {
		if fi, err := os.Stat(sh.HostPath); err != nil || !fi.IsDir() {
			errs = append(errs, fmt.Errorf("shared folder %s is not a folder on this machine: create it, or stop sharing it with `berth start --unmount %s`", sh.HostPath, sh.HostPath))
		}
	}
	for _, pat := range s.FileEventsExclude {
		if _, err := path.Match(pat, ""); err != nil || strings.Trim(pat, "/") == "" {
			errs = append(errs, fmt.Errorf("file_events_exclude %q in %s: not a pattern of directory names like node_modules or .git/objects", pat, fileName))
		}
	}
	return errors.Join(errs...)
}

// ParseGiB parses a memory size as users type it: a number of GiB ("4",
// "2.5", "4G", "4GiB") or of MiB ("512M", "512MiB"). It returns MiB.
func ParseGiB(s string) (int, error) {
	mib, ok := parseMiB(s, 1024)
	if !ok {
		return 0, fmt.Errorf("%q is not a memory size: give GiB like 4 or 2.5 (or 4G), or MiB like 512M", s)
	}
	if mib < 1 {
		return 0, fmt.Errorf("%q is too small: give at least 1 GiB, like 1 or 1024M", s)
	}
	if mib > math.MaxInt32 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int(mib), nil
}

// ParseLogSize parses the size of a container log file as users type it:
// a number of MiB ("10", "10M", "10MiB") or of GiB ("1G", "0.5GiB"). It
// returns MiB; 0 and sizes out of bounds are for Validate to refuse.
func ParseLogSize(s string) (int, error) {
	mib, ok := parseMiB(s, 1)
	if !ok {
		return 0, fmt.Errorf("%q is not a log size: give MiB like 10 (or 10M), or GiB like 1G", s)
	}
	return int(min(mib, math.MaxInt32)), nil
}

// parseMiB reads a plain decimal with an optional unit (G, GB, GiB, M, MB,
// MiB, any case), in MiB rounded to whole ones; a bare number is in units
// of bare MiB. It reports whether s is such a size.
func parseMiB(s string, bare float64) (float64, bool) {
	in := strings.TrimSpace(s)
	num, unit := in, bare
	lower := strings.ToLower(in)
	for _, suf := range []struct {
		s    string
		unit float64
	}{{"gib", 1024}, {"gb", 1024}, {"g", 1024}, {"mib", 1}, {"mb", 1}, {"m", 1}} {
		if strings.HasSuffix(lower, suf.s) {
			num, unit = strings.TrimSpace(in[:len(in)-len(suf.s)]), suf.unit
			break
		}
	}
	// Only plain decimals: ParseFloat alone would also take "inf", "1e3", "0x10".
	if num == "" || strings.Trim(num, "0123456789.") != "" || strings.Count(num, ".") > 1 || num == "." {
		return 0, false
	}
	v, err := strconv.ParseFloat(num, 64)
	return math.Round(v * unit), err == nil
}

// roughGiB renders host-sized amounts rounded down to 0.1 GiB, so a limit
// shown this way is always safe to type back.
func roughGiB(mib int) string {
	if mib < 1024 {
		return bytesize.MiB(mib)
	}
	return strconv.FormatFloat(math.Floor(float64(mib)*10/1024)/10, 'f', -1, 64) + " GiB"
}

// parseMeminfo returns MemTotal from /proc/meminfo content, in MiB (0 if absent).
func parseMeminfo(r io.Reader) int {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.Atoi(f[1])
			if err != nil {
				return 0
			}
			return kb / 1024
		}
	}
	return 0
}

// ValidateAgainstDisk validates s as Validate does, against the data disk
// that exists in p, if any: it may only grow. The CLI and the GUI both
// check through here.
func (s Settings) ValidateAgainstDisk(p Paths, host Host) error {
	return s.validateAgainstDisk(p, host, DiskSize)
}

func (s Settings) validateAgainstDisk(p Paths, host Host, size func(string) (int64, error)) error {
	n, err := CurrentDiskSize(p, host, size)
	if errors.Is(err, fs.ErrNotExist) {
		return s.Validate(host, nil)
	}
	if err != nil {
		return fmt.Errorf("data disk: %w", err)
	}
	return s.Validate(host, &Settings{DiskGiB: int(n >> 30)})
}

// CurrentDiskSize is the data disk's size, as size reads it (DiskSize).
// A disk a running VM holds without sharing reads (Windows) is as large as
// the saved settings say: every start grows the disk to them, and they
// change only through these checks.
func CurrentDiskSize(p Paths, host Host, size func(string) (int64, error)) (int64, error) {
	n, err := size(p.DataDisk())
	if !errors.Is(err, vhdx.ErrInUse) {
		return n, err
	}
	saved, lerr := Load(p, host)
	if lerr != nil {
		return 0, errors.Join(err, lerr)
	}
	return int64(saved.DiskGiB) << 30, nil
}

// DiskSize is the size of the disk the guest sees in the image at path: a
// raw image's file size, or a VHDX image's virtual size (a dynamic VHDX
// file is only as large as what was written to it).
func DiskSize(path string) (int64, error) {
	if strings.EqualFold(filepath.Ext(path), ".vhdx") {
		return vhdx.VirtualSize(path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Load reads the settings; a missing file means defaults. Fields missing from
// the file (written by an older Berth) keep their defaults too. A corrupt
// or truncated file is an error naming it, and a copy of it is kept aside
// (settings.json.corrupt-TIME) before anything may rewrite it.
func Load(p Paths, host Host) (Settings, error) {
	b, err := os.ReadFile(p.File())
	if errors.Is(err, fs.ErrNotExist) {
		return Default(host), nil
	}
	if err != nil {
		return Settings{}, fmt.Errorf("reading settings: %w", err)
	}
	s, err := decode(b, host)
	if err != nil {
		kept := "no copy could be kept"
		if backup, berr := keepCorrupt(p.File(), b); berr == nil {
			kept = "a copy is kept at " + backup
		} else {
			kept += " (" + berr.Error() + ")"
		}
		return Settings{}, fmt.Errorf("settings file %s is corrupt (%v); %s: fix it, or delete it to go back to the defaults, then `berth start --cpus N --memory GiB --disk GiB` to choose again", p.File(), err, kept)
	}
	return s, nil
}

// decode reads a settings file's content over the defaults.
func decode(b []byte, host Host) (Settings, error) {
	s := Default(host)
	err := json.Unmarshal(b, &s)
	return s, err
}

// encode is the content of a settings file.
func encode(s Settings) ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	return append(b, '\n'), err
}

// keepCorrupt copies a corrupt settings file aside, once per content: the
// daemon, the CLI and the GUI all load it, each time failing.
func keepCorrupt(file string, b []byte) (string, error) {
	old, _ := filepath.Glob(file + ".corrupt-*")
	for _, o := range old {
		if have, err := os.ReadFile(o); err == nil && bytes.Equal(have, b) {
			return o, nil
		}
	}
	backup := file + ".corrupt-" + time.Now().UTC().Format("20060102T150405.000Z")
	if err := atomicfile.Write(backup, b, 0o600); err != nil {
		return "", fmt.Errorf("keeping a copy of the corrupt settings: %w", err)
	}
	return backup, nil
}

// Save writes the settings atomically: a crash leaves either the old file or
// the new one, never a half-written one. A corrupt file it replaces is kept
// aside first, as Load does.
func Save(p Paths, s Settings) error {
	b, err := encode(s)
	if err != nil {
		return fmt.Errorf("encoding settings: %w", err)
	}
	if err := os.MkdirAll(p.Config, 0o700); err != nil {
		return fmt.Errorf("saving settings: %w", err)
	}
	if old, err := os.ReadFile(p.File()); err == nil {
		if _, err := decode(old, Host{}); err != nil {
			if _, err := keepCorrupt(p.File(), old); err != nil {
				return err
			}
		}
	}
	if err := atomicfile.Write(p.File(), b, 0o600); err != nil {
		return fmt.Errorf("saving settings: %w", err)
	}
	return nil
}
