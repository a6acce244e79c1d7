package protocol

import (
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

	Hostname string

	// Ports on eth0 reserved for the host.
	EnginePort int // dockerd's TCP listener
	APIPort    int // the guest API

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
}

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
		Hostname:    "berth",
		EnginePort:  EnginePort,
		APIPort:     APIPort,
		SystemDisk:  SystemDiskSerial,
		DataDisk:    DataDiskSerial,
		LogLevel:    "info",
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
	var err error
	switch name {
	case "ip":
		c.Address, err = netip.ParsePrefix(value)
	case "gw":
		c.Gateway, err = netip.ParseAddr(value)
	case "dns":
		c.DNS = nil
		for _, s := range strings.Split(value, ",") {
			a, perr := netip.ParseAddr(s)
			if perr != nil {
				return perr
			}
			c.DNS = append(c.DNS, a)
		}
	case "mtu":
		c.MTU, err = strconv.Atoi(value)
	case "host_gateway":
		c.HostGateway, err = netip.ParseAddr(value)
	case "rosetta":
		c.Rosetta = value
	case "vsock_nic":
		c.VsockNIC, err = parsePort(value)
	case "vsock_options":
		c.VsockOptions, err = parsePort(value)
	case "vsock_log":
		c.VsockLog, err = parsePort(value)
	case "share_vsock":
		// TAG:PORT, after the share's berth.share option.
		tag, port, _ := strings.Cut(value, ":")
		i := slices.IndexFunc(c.Shares, func(s Share) bool { return s.Tag == tag })
		if i < 0 {
			return fmt.Errorf("no berth.share with tag %q before it", tag)
		}
		c.Shares[i].VsockPort, err = parsePort(port)
	case "hostname":
		c.Hostname = value
	case "engine_port":
		c.EnginePort, err = strconv.Atoi(value)
	case "api_port":
		c.APIPort, err = strconv.Atoi(value)
	case "system_disk":
		c.SystemDisk = value
	case "data_disk":
		c.DataDisk = value
	case "debug":
		c.DebugShell = value == "shell"
		if value != "shell" && value != "" {
			return fmt.Errorf("unknown debug mode %q (want berth.debug=shell)", value)
		}
	case "log":
		c.LogLevel = value
	case "time":
		c.HostTime, err = strconv.ParseInt(value, 10, 64)
		if err == nil && c.HostTime <= 0 {
			err = fmt.Errorf("want Unix seconds after 1970")
		}
	case "share":
		sh, perr := parseShare(value)
		if perr != nil {
			return perr
		}
		c.Shares = append(c.Shares, sh)
	default:
		return fmt.Errorf("unknown option")
	}
	return err
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
	for _, p := range []struct {
		name string
		port int
	}{{"berth.engine_port", c.EnginePort}, {"berth.api_port", c.APIPort}} {
		if p.port < 1 || p.port > 65535 {
			return fmt.Errorf("%s %d out of range 1..65535", p.name, p.port)
		}
	}
	if c.EnginePort == c.APIPort {
		return fmt.Errorf("berth.engine_port and berth.api_port are both %d", c.APIPort)
	}
	if c.Hostname == "" || len(c.Hostname) > 63 || strings.ContainsAny(c.Hostname, " ./") {
		return fmt.Errorf("berth.hostname %q: need a single DNS label", c.Hostname)
	}
	if c.SystemDisk == "" || c.DataDisk == "" || c.SystemDisk == c.DataDisk {
		return fmt.Errorf("disk serials %q and %q must be set and differ", c.SystemDisk, c.DataDisk)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("berth.log %q: want debug, info, warn or error", c.LogLevel)
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
	add := func(differs bool, k, v string) {
		if differs {
			args = append(args, "berth."+k+"="+v)
		}
	}
	add(c.Address != d.Address, "ip", c.Address.String())
	add(c.Gateway != d.Gateway, "gw", c.Gateway.String())
	dns := make([]string, len(c.DNS))
	for i, a := range c.DNS {
		dns[i] = a.String()
	}
	add(strings.Join(dns, ",") != d.DNS[0].String(), "dns", strings.Join(dns, ","))
	add(c.MTU != d.MTU, "mtu", strconv.Itoa(c.MTU))
	add(c.HostGateway != d.HostGateway, "host_gateway", c.HostGateway.String())
	add(c.VsockNIC != 0, "vsock_nic", strconv.FormatUint(uint64(c.VsockNIC), 10))
	add(c.VsockOptions != 0, "vsock_options", strconv.FormatUint(uint64(c.VsockOptions), 10))
	add(c.VsockLog != 0, "vsock_log", strconv.FormatUint(uint64(c.VsockLog), 10))
	add(c.Hostname != d.Hostname, "hostname", c.Hostname)
	add(c.EnginePort != d.EnginePort, "engine_port", strconv.Itoa(c.EnginePort))
	add(c.APIPort != d.APIPort, "api_port", strconv.Itoa(c.APIPort))
	add(c.SystemDisk != d.SystemDisk, "system_disk", c.SystemDisk)
	add(c.DataDisk != d.DataDisk, "data_disk", c.DataDisk)
	add(c.DebugShell, "debug", "shell")
	add(c.LogLevel != d.LogLevel, "log", c.LogLevel)
	add(c.Rosetta != "", "rosetta", c.Rosetta)
	add(c.HostTime != 0, "time", strconv.FormatInt(c.HostTime, 10))
	for _, sh := range c.Shares {
		add(true, "share", sh.String())
		add(sh.VsockPort != 0, "share_vsock", sh.Tag+":"+strconv.FormatUint(uint64(sh.VsockPort), 10))
	}
	return args
}
