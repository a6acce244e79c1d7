package protocol

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Options is what guestd needs to bring up the guest. The host passes them on
// the kernel command line (berth.KEY=VALUE) so that one system image serves
// every machine and no config disk is needed.
type Options struct {
	// Network: a static address behind the host's virtual network.
	Address netip.Prefix // guest address, e.g. 192.168.127.2/24
	Gateway netip.Addr   // the host side of eth0; the only peer allowed to reach guest services
	DNS     []netip.Addr
	MTU     int
	// HostGateway is the address that reaches the host's loopback
	// (host.docker.internal); the engine resolves --add-host
	// NAME:host-gateway to it, as Docker Desktop does.
	HostGateway netip.Addr
	// VsockNIC, when not 0, is the host's vsock port that carries eth0:
	// where the hypervisor has no NIC on the host's virtual network
	// (Hyper-V), guestd makes eth0 a tap device bridged to it.
	VsockNIC uint32
	// VsockOptions, when not 0, is the host's vsock port that serves
	// more of these options: where the boot loader's command line is
	// fixed (Hyper-V boots a signed-once EFI program), the machine's own
	// options come from the host.
	VsockOptions uint32
	// VsockLog, when not 0, is the host's vsock port that takes guestd's
	// log as well as the console: Hyper-V's console pipe may be out of
	// the host daemon's reach, and a failed boot must still be seen.
	VsockLog uint32

	// The disks' IDs, set by the host: virtio-blk serial numbers, or
	// SCSILUN+N for SCSI disks (Hyper-V).
	SystemDisk string
	DataDisk   string

	// Shares are host folders to mount before the engine starts.
	Shares []Share
	// Rosetta, when set, is the virtiofs tag of Apple's Rosetta, which
	// then runs the guest's x86-64 programs (vz on Apple silicon).
	Rosetta string

	// DebugShell starts a root shell on the console.
	DebugShell bool
	// LogLevel is "debug", "info", "warn" or "error".
	LogLevel string

	// HostTime is the host's wall clock, in Unix seconds, when it made
	// these options (0: not given). The guest cannot have booted before
	// then: guestd steps a clock that is behind it (vz gives the guest no
	// RTC; a host that slept between composing and booting) before it
	// mounts or starts anything, and the host's precise step follows once
	// the guest API answers.
	HostTime int64

	// ContainerLogMiB and ContainerLogFiles are the engine's default limit
	// on each container's log (dockerd's --log-opt max-size and max-file):
	// at most that many files of that many MiB. There is no unlimited: a
	// log that grows without bound fills the data disk.
	ContainerLogMiB   int
	ContainerLogFiles int

	// ProxyPort, when not 0, is the port of the host's forward proxy on
	// Gateway: the engine sends its pulls, pushes and builds' fetches
	// there, and the host decides per connection how they leave (its own
	// proxy or direct), so a change on the host needs no engine restart.
	ProxyPort int
}

// The container log limit's default and bounds: the host's settings
// check against the same ones.
const (
	DefaultContainerLogMiB   = 10
	DefaultContainerLogFiles = 3
	MinContainerLogMiB       = 1
	MaxContainerLogMiB       = 1024
	MinContainerLogFiles     = 1
	MaxContainerLogFiles     = 100
)

// SCSILUN prefixes a disk ID that names a SCSI disk by its LUN: Hyper-V's
// synthetic disks carry no serial the host sets, but the host picks the
// LUN of each.
const SCSILUN = "scsi-lun:"

// Share is a host folder the hypervisor exports under Tag, mounted at Path.
type Share struct {
	Tag      string
	Path     string
	ReadOnly bool
	// VsockPort, when not 0, is the host's vsock port of a 9P server for
	// the share (Hyper-V): the hypervisor exports nothing by tag.
	VsockPort uint32
}

// String is the kernel option's value: TAG,ro|rw,PATH with the path
// percent-escaped, so spaces, quotes and any other byte survive the kernel
// command line's word splitting.
func (s Share) String() string {
	mode := "rw"
	if s.ReadOnly {
		mode = "ro"
	}
	// Slashes stay readable: PathEscape, made for one path segment, would
	// triple each of them on a line limited to 2 KiB.
	return s.Tag + "," + mode + "," + strings.ReplaceAll(url.PathEscape(s.Path), "%2F", "/")
}

func parseShare(v string) (Share, error) {
	f := strings.SplitN(v, ",", 3)
	if len(f) != 3 {
		return Share{}, fmt.Errorf("want TAG,ro|rw,PATH")
	}
	p, err := url.PathUnescape(f[2])
	if err != nil {
		return Share{}, err
	}
	s := Share{Tag: f[0], Path: p}
	switch f[1] {
	case "ro":
		s.ReadOnly = true
	case "rw":
	default:
		return Share{}, fmt.Errorf("mode %q: want ro or rw", f[1])
	}
	if s.Tag == "" || len(s.Tag) > 36 {
		return Share{}, fmt.Errorf("tag %q: want 1 to 36 characters", s.Tag)
	}
	if !path.IsAbs(s.Path) || path.Clean(s.Path) != s.Path || s.Path == "/" {
		return Share{}, fmt.Errorf("path %q: want a clean absolute path below /", s.Path)
	}
	return s, nil
}

// DefaultOptions are the options of the standard Berth network layout
// (gvisor-tap-vsock's defaults), which the host's virtual network serves.
func DefaultOptions() Options {
	return Options{
		Address:     netip.PrefixFrom(GuestIP, Subnet.Bits()),
		Gateway:     GatewayIP,
		DNS:         []netip.Addr{GatewayIP},
		MTU:         MTU,
		HostGateway: HostGatewayIP,
		SystemDisk:  SystemDiskSerial,
		DataDisk:    DataDiskSerial,
		LogLevel:    "info",

		ContainerLogMiB:   DefaultContainerLogMiB,
		ContainerLogFiles: DefaultContainerLogFiles,
	}
}

// ParseOptions reads berth.* options from a kernel command line on top of
// DefaultOptions.
// Unknown berth.* keys are errors so that a typo on the host is not silently
// ignored; other kernel options are skipped.
func ParseOptions(cmdline string) (Options, error) {
	c := DefaultOptions()
	for _, field := range strings.Fields(cmdline) {
		key, value, _ := strings.Cut(field, "=")
		name, ok := strings.CutPrefix(key, "berth.")
		if !ok {
			continue
		}
		if err := c.set(name, value); err != nil {
			return Options{}, fmt.Errorf("kernel option %s: %w", field, err)
		}
	}
	if err := c.Validate(); err != nil {
		return Options{}, err
	}
	return c, nil
}

func (c *Options) set(name, value string) error {
	i := slices.IndexFunc(options, func(o option) bool { return o.key == name })
	if i < 0 {
		return errors.New("unknown option")
	}
	return options[i].parse(c, value)
}

// option is one berth.KEY: how guestd reads its value, and the values the
// host writes for it (none where the option is its default d's).
type option struct {
	key    string
	parse  func(c *Options, v string) error
	render func(c, d *Options) []string
}

// options are all the berth.* keys, in the order the host writes them.
var options = []option{
	{"ip", func(c *Options, v string) (err error) { c.Address, err = netip.ParsePrefix(v); return },
		func(c, d *Options) []string { return unless(c.Address == d.Address, c.Address.String()) }},
	{"gw", func(c *Options, v string) (err error) { c.Gateway, err = netip.ParseAddr(v); return },
		func(c, d *Options) []string { return unless(c.Gateway == d.Gateway, c.Gateway.String()) }},
	{"dns", parseDNS, func(c, d *Options) []string { return unless(slices.Equal(c.DNS, d.DNS), joinAddrs(c.DNS)) }},
	{"mtu", func(c *Options, v string) (err error) { c.MTU, err = strconv.Atoi(v); return },
		func(c, d *Options) []string { return unless(c.MTU == d.MTU, strconv.Itoa(c.MTU)) }},
	{"host_gateway", func(c *Options, v string) (err error) { c.HostGateway, err = netip.ParseAddr(v); return },
		func(c, d *Options) []string { return unless(c.HostGateway == d.HostGateway, c.HostGateway.String()) }},
	{"vsock_nic", func(c *Options, v string) (err error) { c.VsockNIC, err = parsePort(v); return },
		func(c, _ *Options) []string { return unlessZero(c.VsockNIC) }},
	{"vsock_options", func(c *Options, v string) (err error) { c.VsockOptions, err = parsePort(v); return },
		func(c, _ *Options) []string { return unlessZero(c.VsockOptions) }},
	{"vsock_log", func(c *Options, v string) (err error) { c.VsockLog, err = parsePort(v); return },
		func(c, _ *Options) []string { return unlessZero(c.VsockLog) }},
	{"system_disk", func(c *Options, v string) error { c.SystemDisk = v; return nil },
		func(c, d *Options) []string { return unless(c.SystemDisk == d.SystemDisk, c.SystemDisk) }},
	{"data_disk", func(c *Options, v string) error { c.DataDisk = v; return nil },
		func(c, d *Options) []string { return unless(c.DataDisk == d.DataDisk, c.DataDisk) }},
	{"debug", parseDebug, func(c, _ *Options) []string { return unless(!c.DebugShell, "shell") }},
	{"log", func(c *Options, v string) error { c.LogLevel = v; return nil },
		func(c, d *Options) []string { return unless(c.LogLevel == d.LogLevel, c.LogLevel) }},
	{"rosetta", func(c *Options, v string) error { c.Rosetta = v; return nil },
		func(c, _ *Options) []string { return unless(c.Rosetta == "", c.Rosetta) }},
	// MIB,FILES: the engine's limit on each container's log.
	{"container_logs", parseContainerLogs, func(c, d *Options) []string {
		return unless(c.ContainerLogMiB == d.ContainerLogMiB && c.ContainerLogFiles == d.ContainerLogFiles,
			strconv.Itoa(c.ContainerLogMiB)+","+strconv.Itoa(c.ContainerLogFiles))
	}},
	{"proxy", parseProxyPort, func(c, _ *Options) []string {
		return unless(c.ProxyPort == 0, strconv.Itoa(c.ProxyPort))
	}},
	{"time", parseTime, func(c, _ *Options) []string {
		return unless(c.HostTime == 0, strconv.FormatInt(c.HostTime, 10))
	}},
	{"share", parseShareOption, func(c, _ *Options) []string {
		var v []string
		for _, sh := range c.Shares {
			v = append(v, sh.String())
		}
		return v
	}},
	// TAG:PORT, after the share's berth.share option.
	{"share_vsock", parseShareVsock, func(c, _ *Options) []string {
		var v []string
		for _, sh := range c.Shares {
			if sh.VsockPort != 0 {
				v = append(v, sh.Tag+":"+strconv.FormatUint(uint64(sh.VsockPort), 10))
			}
		}
		return v
	}},
}

// unless is v as the one value of an option, or none when default is true.
func unless(isDefault bool, v string) []string {
	if isDefault {
		return nil
	}
	return []string{v}
}

// unlessZero is a vsock port's value, or none when it is not set.
func unlessZero(port uint32) []string {
	return unless(port == 0, strconv.FormatUint(uint64(port), 10))
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

func parseDNS(c *Options, v string) error {
	c.DNS = nil
	for _, s := range strings.Split(v, ",") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return err
		}
		c.DNS = append(c.DNS, a)
	}
	return nil
}

func parseDebug(c *Options, v string) error {
	if v != "shell" && v != "" {
		return fmt.Errorf("unknown debug mode %q (want berth.debug=shell)", v)
	}
	c.DebugShell = v == "shell"
	return nil
}

func parseTime(c *Options, v string) error {
	t, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return err
	}
	if t <= 0 {
		return errors.New("want Unix seconds after 1970")
	}
	c.HostTime = t
	return nil
}

func parseProxyPort(c *Options, v string) error {
	p, err := strconv.ParseUint(v, 10, 16)
	if err != nil || p == 0 {
		return errors.New("want a TCP port, 1..65535")
	}
	c.ProxyPort = int(p)
	return nil
}

func parseContainerLogs(c *Options, v string) error {
	size, files, ok := strings.Cut(v, ",")
	mib, err1 := strconv.Atoi(size)
	n, err2 := strconv.Atoi(files)
	if !ok || err1 != nil || err2 != nil {
		return errors.New("want MIB,FILES, e.g. 10,3")
	}
	c.ContainerLogMiB, c.ContainerLogFiles = mib, n
	return nil
}

func parseShareOption(c *Options, v string) error {
	sh, err := parseShare(v)
	if err != nil {
		return err
	}
	c.Shares = append(c.Shares, sh)
	return nil
}

func parseShareVsock(c *Options, v string) error {
	tag, port, _ := strings.Cut(v, ":")
	i := slices.IndexFunc(c.Shares, func(s Share) bool { return s.Tag == tag })
	if i < 0 {
		return fmt.Errorf("no berth.share with tag %q before it", tag)
	}
	p, err := parsePort(port)
	if err != nil {
		return err
	}
	c.Shares[i].VsockPort = p
	return nil
}

// parsePort reads a vsock port: any 32-bit number but 0 and -1 (the
// wildcard).
func parsePort(v string) (uint32, error) {
	p, err := strconv.ParseUint(v, 10, 32)
	if err == nil && (p == 0 || p == 1<<32-1) {
		err = fmt.Errorf("port %d is reserved", p)
	}
	return uint32(p), err
}

// Validate checks that the settings are usable together.
func (c Options) Validate() error {
	if !c.Address.Addr().Is4() {
		return fmt.Errorf("berth.ip %s: need an IPv4 address with prefix length", c.Address)
	}
	if !c.Address.Contains(c.Gateway) {
		return fmt.Errorf("berth.gw %s is not in the guest network %s", c.Gateway, c.Address.Masked())
	}
	if c.Gateway == c.Address.Addr() {
		return fmt.Errorf("berth.gw %s equals the guest address", c.Gateway)
	}
	if !c.HostGateway.Is4() || c.HostGateway == c.Address.Addr() {
		return fmt.Errorf("berth.host_gateway %s: need an IPv4 address other than the guest's", c.HostGateway)
	}
	if c.MTU < 576 || c.MTU > 65520 {
		return fmt.Errorf("berth.mtu %d out of range 576..65520", c.MTU)
	}
	if c.SystemDisk == "" || c.DataDisk == "" || c.SystemDisk == c.DataDisk {
		return fmt.Errorf("disk serials %q and %q must be set and differ", c.SystemDisk, c.DataDisk)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("berth.log %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.ContainerLogMiB < MinContainerLogMiB || c.ContainerLogMiB > MaxContainerLogMiB ||
		c.ContainerLogFiles < MinContainerLogFiles || c.ContainerLogFiles > MaxContainerLogFiles {
		return fmt.Errorf("berth.container_logs %d,%d: want %d..%d MiB per file and %d..%d files",
			c.ContainerLogMiB, c.ContainerLogFiles, MinContainerLogMiB, MaxContainerLogMiB, MinContainerLogFiles, MaxContainerLogFiles)
	}
	tags, paths := map[string]bool{}, map[string]bool{}
	for _, sh := range c.Shares {
		if tags[sh.Tag] || paths[sh.Path] {
			return fmt.Errorf("berth.share %s: tag or path used twice", sh)
		}
		tags[sh.Tag], paths[sh.Path] = true, true
	}
	return nil
}

// KernelCmdline is the guest's whole kernel command line: the console
// device (ConsoleUART or ConsoleVirtio), BootArgs, then KernelArgs.
func (c Options) KernelCmdline(console string) string {
	return strings.Join(append([]string{"console=" + console, BootArgs}, c.KernelArgs()...), " ")
}

// KernelArgs renders the options that differ from DefaultOptions, for the host to
// append to the kernel command line.
func (c Options) KernelArgs() []string {
	d := DefaultOptions()
	var args []string
	for _, o := range options {
		for _, v := range o.render(&c, &d) {
			args = append(args, "berth."+o.key+"="+v)
		}
	}
	return args
}
