package layering

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/berthvm/berth"

// The host's packages, the one guest package they may import, and the one
// host package the guest may import: the byte relay, which both sides use.
var (
	hostPrefixes = []string{module + "/app", module + "/vmhost", module + "/netproxy", module + "/filesharing"}
	protocol     = module + "/guestd/protocol"
	relay        = module + "/netproxy/relay"
	vnet         = module + "/netproxy/vnet"
)

// gvisor is what only the virtual network may link.
var gvisor = []string{"gvisor.dev/gvisor", "github.com/containers/gvisor-tap-vsock"}

// goList runs go list for goos in the module and returns its lines.
func goList(t *testing.T, goos string, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-e"}, args...)...)
	cmd.Dir = "../.."
	// cgo on, so that the dashboard's cgo files count (go list needs no C
	// compiler).
	cmd.Env = append(cmd.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s for %s: %v", strings.Join(args, " "), goos, err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// within says whether pkg is one of roots or below one.
func within(pkg string, roots ...string) bool {
	for _, r := range roots {
		if pkg == r || strings.HasPrefix(pkg, r+"/") {
			return true
		}
	}
	return false
}

func isHost(pkg string) bool { return within(pkg, hostPrefixes...) }

func guestPkg(pkg string) bool { return within(pkg, module+"/guestd") }

// guestImpl is a guestd package other than the protocol.
func guestImpl(pkg string) bool { return guestPkg(pkg) && pkg != protocol }

var oses = []string{"linux", "windows", "darwin"}

// The host imports nothing of the guest but its protocol, tests included.
func TestHostImportsNoGuestImplementation(t *testing.T) {
	for _, goos := range oses {
		for _, line := range goList(t, goos, "-f", "{{.ImportPath}} {{join .Imports \" \"}} {{join .TestImports \" \"}} {{join .XTestImports \" \"}}", "./...") {
			f := strings.Fields(line)
			if len(f) == 0 || !isHost(f[0]) {
				continue
			}
			for _, imp := range f[1:] {
				if guestImpl(imp) {
					t.Errorf("%s (%s) imports %s: the host may import only %s of guestd; move what both sides need there", f[0], goos, imp, protocol)
				}
			}
		}
	}
}

// The guest's code imports nothing of the host but the relay. Its tests may
// (the tap bridge's runs against the host's virtual network).
func TestGuestImportsOnlyTheRelay(t *testing.T) {
	for _, goos := range oses {
		for _, line := range goList(t, goos, "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./guestd/...") {
			f := strings.Fields(line)
			if len(f) == 0 || !guestPkg(f[0]) {
				continue
			}
			for _, imp := range f[1:] {
				if isHost(imp) && imp != relay {
					t.Errorf("%s (%s) imports %s: the guest may import only %s of the host", f[0], goos, imp, relay)
				}
			}
		}
	}
}

// The protocol and the relay are shared by both sides, so they depend on
// neither: only the standard library (and the protocol on the relay).
func TestSharedPackagesImportOnlyTheStandardLibrary(t *testing.T) {
	for _, pkg := range []string{protocol, relay} {
		for _, goos := range oses {
			for _, line := range goList(t, goos, "-deps", "-f", "{{.ImportPath}} {{.Standard}}", pkg) {
				if f := strings.Fields(line); len(f) == 2 && f[1] != "true" && f[0] != pkg && f[0] != relay {
					t.Errorf("%s (%s) depends on %s", pkg, goos, f[0])
				}
			}
		}
	}
}

// The proxies take a dial function, and the DNS server a packet conn and a
// listener: only the virtual network links gvisor.
func TestProxiesLinkNoGvisor(t *testing.T) {
	for _, pkg := range []string{"apifilter", "fwdproxy", "hostca", "hostdns", "hostproxy", "portfwd", "portspec", "relay"} {
		for _, goos := range oses {
			for _, dep := range goList(t, goos, "-deps", "./netproxy/"+pkg) {
				if within(dep, gvisor...) {
					t.Errorf("netproxy/%s (%s) links %s: only %s may", pkg, goos, dep, vnet)
				}
			}
		}
	}
}

// The dashboard is a client of the daemon: it must not link anything of the
// virtual network, the hypervisor backends or the guest.
func TestDashboardLinksNoDaemon(t *testing.T) {
	banned := append([]string{vnet, module + "/vmhost", module + "/app/daemon"}, gvisor...)
	for _, goos := range oses {
		for _, dep := range goList(t, goos, "-deps", "./app/berth-gui") {
			if within(dep, banned...) {
				t.Errorf("berth-gui (%s) links %s: it may reach the daemon only through app/control, and its files through settings.Paths", goos, dep)
			}
			if guestImpl(dep) {
				t.Errorf("berth-gui (%s) links %s: only %s of guestd", goos, dep, protocol)
			}
		}
	}
}
