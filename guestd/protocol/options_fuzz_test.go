package protocol

import (
	"reflect"
	"strings"
	"testing"
)

// Any kernel command line either is refused or parses to options that
// render back to words the kernel keeps whole and that parse to the same
// options.
func FuzzParseOptions(f *testing.F) {
	for _, s := range []string{
		"console=ttyS0 quiet root=/dev/vda ro",
		"console=hvc0 berth.ip=10.0.2.15/24 berth.gw=10.0.2.2 berth.dns=1.1.1.1,9.9.9.9 berth.mtu=4000 berth.debug=shell berth.log=debug berth.vsock_nic=1024",
		"berth.share=berth0,rw,/home/me/My%20Projects berth.share=berth1,ro,/mnt/host/c/Users/me berth.share_vsock=berth1:1101",
		"berth.system_disk=scsi-lun:1 berth.data_disk=scsi-lun:2 berth.vsock_options=1024 berth.rosetta=rosetta",
		"berth.host_gateway=10.0.2.254 berth.time=1800000000",
		"berth.container_logs=1024,100", "berth.container_logs=+010,03 berth.container_logs=10,3", "berth.container_logs=0,0",
		"berth.share=s0,rw,/a%ZZ berth.dns= berth.mtu=-1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cmdline string) {
		c, err := ParseOptions(cmdline)
		if err != nil {
			return
		}
		args := c.KernelArgs()
		for _, a := range args {
			if len(strings.Fields(a)) != 1 {
				t.Fatalf("kernel option %q would be split by the kernel", a)
			}
		}
		got, err := ParseOptions(strings.Join(args, " "))
		if err != nil {
			t.Fatalf("options parsed from %q render as %q, which is refused: %v", cmdline, args, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("round trip of %q through %q:\n got %+v\nwant %+v", cmdline, args, got, c)
		}
	})
}
