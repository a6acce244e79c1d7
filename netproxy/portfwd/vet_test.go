package portfwd

import (
	"net/netip"
	"strings"
	"testing"
)

func TestVetCreate(t *testing.T) {
	t.Parallel()
	ok := []string{
		`{"Image":"x"}`,
		`{"HostConfig":{"PortBindings":null}}`,
		`{"HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}}}`,
		`{"HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"},{"HostIp":"::1","HostPort":"8080"}]}}}`,
		`{"HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}],"53/udp":[{"HostIp":"::","HostPort":""}]}}}`,
		`{"HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"127.0.0.2","HostPort":"8000-8010"}]}}}`,
	}
	for _, body := range ok {
		got, err := VetCreate([]byte(body))
		if err != nil || string(got) != body {
			t.Errorf("VetCreate(%s) = %s, %v; want it unchanged", body, got, err)
		}
	}
	bad := map[string]string{
		`{"HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"10.9.9.9","HostPort":"8080"}]}}}`: "published port 80/tcp: cannot publish on 10.9.9.9: this host has no such address; publish on the host's loopback",
		`{"HostConfig":{"PortBindings":{"53/udp":[{"HostIp":"fd00::9","HostPort":"53"}]}}}`:    "cannot publish on fd00::9: this host has no such address",
		`{"HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"nohost","HostPort":"8080"}]}}}`:   `host address "nohost" is not an IP address`,
	}
	for body, want := range bad {
		if _, err := VetCreate([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("VetCreate(%s) = %v, want an error with %q", body, err, want)
		}
	}
}

func TestCheckHostIPOnAHostAddress(t *testing.T) {
	t.Parallel()
	has := func(netip.Addr) bool { return true }
	err := CheckHostIP(netip.MustParseAddr("192.168.1.5"), has)
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") || !strings.Contains(err.Error(), "-p 0.0.0.0:8080:80") {
		t.Fatalf("CheckHostIP on a LAN address of the host: %v", err)
	}
	for _, ip := range []string{"127.0.0.1", "::1", "0.0.0.0", "::", "::ffff:127.0.0.1"} {
		if err := CheckHostIP(netip.MustParseAddr(ip), has); err != nil {
			t.Errorf("CheckHostIP(%s): %v", ip, err)
		}
	}
}
