package protocol

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseDefaults(t *testing.T) {
	c, err := ParseOptions("console=ttyS0 quiet root=/dev/vda ro")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, DefaultOptions()) {
		t.Fatalf("got %+v, want defaults", c)
	}
}

func TestParseOverrides(t *testing.T) {
	c, err := ParseOptions("console=hvc0 berth.ip=10.0.2.15/24 berth.gw=10.0.2.2 berth.dns=1.1.1.1,9.9.9.9 berth.mtu=4000 berth.debug=shell berth.log=debug berth.vsock_nic=1024 berth.container_logs=20,5")
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultOptions()
	want.ContainerLogMiB, want.ContainerLogFiles = 20, 5
	want.Address = netip.MustParsePrefix("10.0.2.15/24")
	want.Gateway = netip.MustParseAddr("10.0.2.2")
	want.DNS = []netip.Addr{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("9.9.9.9")}
	want.MTU = 4000
	want.DebugShell = true
	want.LogLevel = "debug"
	want.VsockNIC = 1024
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
}

func TestParseErrors(t *testing.T) {
	for cmdline, wantErr := range map[string]string{
		"berth.ip=10.0.0.1":                           "berth.ip=10.0.0.1",
		"berth.gw=10.9.9.9":                           "not in the guest network",
		"berth.gw=192.168.127.2":                      "equals the guest address",
		"berth.mtu=100":                               "out of range",
		"berth.host_gateway=::1":                      "need an IPv4 address",
		"berth.mtu=abc":                               "berth.mtu=abc",
		"berth.hostname=dev":                          "unknown option",
		"berth.data_disk=berth-system":                "must be set and differ",
		"berth.debug=yes":                             "unknown debug mode",
		"berth.log=verbose":                           "want debug, info",
		"berth.frobnicate=1":                          "unknown option",
		"berth.vsock_nic=-1":                          "berth.vsock_nic=-1",
		"berth.vsock_options=0":                       "reserved",
		"berth.share_vsock=s0:1100":                   `no berth.share with tag "s0"`,
		"berth.share=s0,rw,/a berth.share_vsock=s0:x": "berth.share_vsock=s0:x",
		"berth.dns=1.1.1.1,nope":                      "berth.dns",
		"berth.ip=::1/64 berth.gw=::2":                "IPv4",
		"console=ttyS0 berth.system_disk= quiet":      "must be set",
		"berth.share=s0,rw":                           "want TAG,ro|rw,PATH",
		"berth.share=s0,rx,/a":                        "want ro or rw",
		"berth.share=s0,rw,relative":                  "clean absolute path",
		"berth.share=s0,rw,/a/../b":                   "clean absolute path",
		"berth.share=s0,rw,/a berth.share=s0,rw,/b":   "used twice",
		"berth.time=0":                                "after 1970",
		"berth.time=yesterday":                        "berth.time=yesterday",
		"berth.container_logs=10":                     "want MIB,FILES",
		"berth.container_logs=10m,3":                  "want MIB,FILES",
		"berth.container_logs=0,3":                    "berth.container_logs 0,3: want 1..1024 MiB per file and 1..100 files",
		"berth.container_logs=1025,3":                 "want 1..1024 MiB",
		"berth.container_logs=10,0":                   "and 1..100 files",
		"berth.container_logs=10,101":                 "and 1..100 files",
		"berth.container_logs=-1,-1":                  "berth.container_logs -1,-1",
		"berth.proxy=0":                               "want a TCP port",
		"berth.proxy=65536":                           "want a TCP port",
	} {
		_, err := ParseOptions(cmdline)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("ParseOptions(%q) error = %v, want it to mention %q", cmdline, err, wantErr)
		}
	}
}

func TestKernelArgsRoundTrip(t *testing.T) {
	if args := DefaultOptions().KernelArgs(); len(args) != 0 {
		t.Fatalf("defaults render as %q, want nothing", args)
	}
	// Either half of the log limit differing from its default renders both.
	logs := DefaultOptions()
	logs.ContainerLogFiles = 5
	if args := logs.KernelArgs(); !reflect.DeepEqual(args, []string{"berth.container_logs=10,5"}) {
		t.Fatalf("a log limit of 10 MiB x 5 renders as %q", args)
	}
	c := DefaultOptions()
	c.MTU = 9000
	c.HostGateway = netip.MustParseAddr("10.0.2.254")
	c.DebugShell = true
	c.VsockNIC = 2049
	c.VsockOptions = 1024
	c.VsockLog = 1026
	c.Rosetta = "rosetta"
	c.HostTime = 1796094000
	c.ProxyPort = ProxyPort
	c.ContainerLogMiB, c.ContainerLogFiles = 1024, 100
	c.DNS = []netip.Addr{netip.MustParseAddr("192.168.127.1"), netip.MustParseAddr("8.8.8.8")}
	c.Shares = []Share{
		{Tag: "berth0", Path: "/home/me/My Projects/ünïcode \"q\",x=1%"},
		{Tag: "berth1", Path: "/mnt/host/c/Users/me", ReadOnly: true, VsockPort: 1101},
	}
	for _, a := range c.KernelArgs() {
		if strings.ContainsAny(a, " \"\t") {
			t.Fatalf("kernel option %q would be split or quoted by the kernel", a)
		}
	}
	got, err := ParseOptions(strings.Join(c.KernelArgs(), " "))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip: got %+v, want %+v", got, c)
	}
}
