package protocol

import "time"

// The guest API: HTTP/JSON served by guestd on eth0 for the host only.
const (
	HealthPath   = "/v1/health"   // GET: Health
	StatsPath    = "/v1/stats"    // GET: Stats
	ShutdownPath = "/v1/shutdown" // POST ShutdownRequest: 202, then the guest powers off
	// ShellPath is an HTTP upgrade (ShellProtocol) to a raw byte stream
	// with a shell (or ?cmd=…) in the guest; ?tty=1&rows=&cols=&term= for
	// a pty.
	ShellPath = "/v1/shell"
	// ClockPath reads (GET: Clock) and steps (POST ClockStep: Clock, the
	// time after the step) the guest's wall clock. Time flows host to
	// guest only.
	ClockPath = "/v1/clock"
	// DiskPath reads what fills the data disk as the guest sees it (GET:
	// DiskUse); TrimPath trims it now (POST: Trimmed), so that what was
	// freed goes back to the host's disk file at once.
	DiskPath = "/v1/disk"
	TrimPath = "/v1/trim"
	// FSEventsPath takes changes the host saw in its shared folders (POST
	// FSEvents: FSEventsApplied), so that watchers in the guest see them:
	// virtiofs and 9p carry no change notifications of their own.
	FSEventsPath = "/v1/fsevents"
)

// ShellProtocol is the Upgrade token of ShellPath.
const ShellProtocol = "berth-shell"

// ErrorBody is how the guest API (and the host's control API) report a
// failed request.
type ErrorBody struct {
	Message string `json:"message"`
}

// State is the guest's overall state.
type State string

// The guest's states, in the order a boot goes through them.
const (
	Booting      State = "booting"
	Ready        State = "ready"         // the engine answers
	Failed       State = "error"         // boot cannot go on; Health.Error says why
	ShuttingDown State = "shutting-down" // containers and engine are stopping
)

// Versions of what runs in the guest.
type Versions struct {
	Guestd     string `json:"guestd"`
	Kernel     string `json:"kernel"`
	Docker     string `json:"docker,omitempty"`
	DockerAPI  string `json:"docker_api,omitempty"`
	Containerd string `json:"containerd,omitempty"`
}

// Step is a boot milestone, in seconds since the kernel started.
type Step struct {
	Name string  `json:"name"`
	At   float64 `json:"at"`
}

// Health is the answer to HealthPath.
type Health struct {
	State    State           `json:"state"`
	Error    string          `json:"error,omitempty"`
	Problems []string        `json:"problems,omitempty"` // trouble that does not stop the boot
	Uptime   float64         `json:"uptime"`             // seconds since the kernel started
	Boot     []Step          `json:"boot"`
	Versions Versions        `json:"versions"`
	Services []ServiceStatus `json:"services,omitempty"`
	DataDisk *DataDiskReport `json:"data_disk,omitempty"`
	// DiskStall is set while a disk of the guest has stopped answering
	// (requests in flight, none completed for a while). A guestd that
	// predates it never sets it.
	DiskStall *DiskStall `json:"disk_stall,omitempty"`
}

// DiskStall is a guest block device with requests in flight that has
// completed none since Since.
type DiskStall struct {
	Device string `json:"device"` // vdb, sda, dm-0, loop0
	// DataDisk says the device holds the engine's data (/var/lib/docker).
	DataDisk bool `json:"data_disk,omitempty"`
	// Stacked says the device is one made inside the VM (a loop or
	// device-mapper device), not a disk the hypervisor gives it: its stall
	// hangs what uses it, not necessarily the engine.
	Stacked  bool      `json:"stacked,omitempty"`
	Since    time.Time `json:"since"` // the last time it was seen making progress
	InFlight uint64    `json:"in_flight"`
	// HungTasks counts the kernel's hung-task reports (tasks blocked for
	// more than 120 s) since then; HungTask is the latest.
	HungTasks uint64 `json:"hung_tasks,omitempty"`
	HungTask  string `json:"hung_task,omitempty"`
	// Others names further stalled devices.
	Others []string `json:"others,omitempty"`
}

// ServiceState is where a supervised service (containerd, dockerd) is in
// its life.
type ServiceState string

// A supervised service's states.
const (
	ServiceStarting   ServiceState = "starting"
	ServiceRunning    ServiceState = "running"    // started and, if it has a Ready check, ready
	ServiceRestarting ServiceState = "restarting" // exited; waiting out the backoff
	ServiceStopped    ServiceState = "stopped"
)

// ServiceStatus is a snapshot of a supervised service.
type ServiceStatus struct {
	Name      string       `json:"name"`
	State     ServiceState `json:"state"`
	Pid       int          `json:"pid,omitempty"`
	Restarts  int          `json:"restarts"`
	LastError string       `json:"last_error,omitempty"`
	Since     time.Time    `json:"since"`
	Tail      []string     `json:"tail,omitempty"` // last output lines, when not running
}

// DataDiskReport says what guestd did to the data disk at boot.
type DataDiskReport struct {
	Formatted bool   `json:"formatted"`
	Repaired  bool   `json:"repaired"`
	Check     string `json:"check,omitempty"` // e2fsck's summary line
}

// Stats is the answer to StatsPath: a snapshot of resource use.
type Stats struct {
	CPUs       int     `json:"cpus"`
	CPUPercent float64 `json:"cpu_percent"` // of all CPUs, over the sample interval
	Load1      float64 `json:"load1"`
	// Memory.Used is what the guest cannot give up at once: MemTotal less
	// MemAvailable (free memory plus the page cache and slab the kernel
	// can drop).
	Memory   Usage `json:"memory"`
	DataDisk Usage `json:"data_disk"`
	// MemoryDetail is what the host's balloon controller sizes the guest
	// by; a guestd that predates it leaves it nil.
	MemoryDetail *MemoryDetail `json:"memory_detail,omitempty"`
}

// MemoryDetail is the guest's memory beyond Stats.Memory, in bytes.
type MemoryDetail struct {
	Available uint64 `json:"available"` // MemAvailable
	// Cache is the page cache less shared memory (tmpfs, which cannot be
	// dropped): what a reclaim can give back.
	Cache uint64 `json:"cache"`
	// Pressure is the memory pressure stall's "some" avg10, in percent
	// (/proc/pressure/memory); HasPressure is false on a kernel without
	// PSI.
	Pressure    float64 `json:"pressure"`
	HasPressure bool    `json:"has_pressure"`
}

// Usage is a total and how much of it is used, in bytes.
type Usage struct {
	Total uint64 `json:"total"`
	Used  uint64 `json:"used"`
}

// DiskUse is the answer to DiskPath.
type DiskUse struct {
	Filesystem Usage `json:"filesystem"` // the data disk's filesystem
	// Logs is what the engine's container logs take on it: they are in
	// none of the engine's own figures.
	Logs uint64 `json:"logs"`
}

// Trimmed is the answer to TrimPath.
type Trimmed struct {
	Bytes uint64 `json:"bytes"` // what the filesystem reported trimmed
}

// ShutdownRequest is the body of ShutdownPath.
type ShutdownRequest struct {
	Reboot bool `json:"reboot"`
}

// Clock is the guest's wall clock in Unix nanoseconds.
type Clock struct {
	UnixNano int64 `json:"unix_nano"`
}

// ClockStep moves the guest's wall clock by StepNanos (positive: forward):
// the guest's offset from the host's clock, as the host measured it,
// negated. A step rather than the host's time, because a busy guest may
// take long to answer: a step is applied whole whenever it arrives, while
// a time would be behind by the request's unknown way there.
type ClockStep struct {
	StepNanos int64 `json:"step_ns"`
}

// FSEvents is a coalesced batch of changes in shared folders, at the
// guest's paths. The guest makes each visible to inotify without changing
// content or the host's timestamps.
type FSEvents struct {
	Changes []FSChange `json:"changes"`
}

// FSChange is one path that changed. The host sends the parent directory
// of an entry that was created, removed or renamed as a change of its own,
// so that a watcher of the directory hears of it; a coarse change (the
// host lost events, or had too many) is the directory itself.
type FSChange struct {
	Path string `json:"path"`
	// MtimeNanos is the path's modification time on the host when the
	// batch was sent, in Unix nanoseconds: the guest sets that same time,
	// so nothing changes but the notice. Zero when Gone.
	MtimeNanos int64 `json:"mtime_ns,omitempty"`
	// Gone says the path no longer exists on the host.
	Gone bool `json:"gone,omitempty"`
}

// FSEventsApplied is the answer to FSEventsPath.
type FSEventsApplied struct {
	Touched int `json:"touched"` // paths whose change was raised
	// Skipped counts paths left alone: gone, outside the shares, or
	// already changed by the guest itself.
	Skipped int `json:"skipped"`
}
