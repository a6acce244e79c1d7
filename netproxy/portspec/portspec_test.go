package portspec

import (
	"net/netip"
	"testing"
)

func TestPublished(t *testing.T) {
	for _, tc := range []struct {
		ip    string
		proto string
		want  string
	}{
		{"", "tcp", "8080:80"},
		{"", "", "8080:80"},
		{"", "udp", "8080:80/udp"},
		{"127.0.0.1", "tcp", "127.0.0.1:8080:80"},
		{"::1", "udp", "[::1]:8080:80/udp"},
	} {
		var ip netip.Addr
		if tc.ip != "" {
			ip = netip.MustParseAddr(tc.ip)
		}
		if got := Published(ip, 8080, 80, tc.proto); got != tc.want {
			t.Errorf("Published(%q, 8080, 80, %q) = %q, want %q", tc.ip, tc.proto, got, tc.want)
		}
	}
}
