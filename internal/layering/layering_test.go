package layering

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/berthvm/berth"

// The host's packages, and the one guest package they may import.
var (
	hostPrefixes = []string{module + "/app", module + "/vmhost", module + "/netproxy", module + "/filesharing"}
	protocol     = module + "/guestd/protocol"
)

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

func isHost(pkg string) bool {
	for _, p := range hostPrefixes {
		if pkg == p || strings.HasPrefix(pkg, p+"/") {
			return true
		}
	}
	return false
}

// guestImpl is a guestd package other than the protocol.
func guestImpl(pkg string) bool {
	return (pkg == module+"/guestd" || strings.HasPrefix(pkg, module+"/guestd/")) && pkg != protocol
}

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

// The protocol is shared by both sides, so it depends on neither: only the
// standard library.
func TestProtocolImportsOnlyTheStandardLibrary(t *testing.T) {
	for _, goos := range oses {
		for _, line := range goList(t, goos, "-deps", "-f", "{{.ImportPath}} {{.Standard}}", protocol) {
			if f := strings.Fields(line); len(f) == 2 && f[1] != "true" && f[0] != protocol {
				t.Errorf("%s (%s) depends on %s", protocol, goos, f[0])
			}
		}
	}
}

// The dashboard is a client of the daemon: it must not link the daemon's
// virtual network (gvisor), the hypervisor backends or the guest.
func TestDashboardLinksNoDaemon(t *testing.T) {
	banned := []string{"gvisor.dev/gvisor", "github.com/containers/gvisor-tap-vsock", module + "/vmhost", module + "/app/daemon", module + "/netproxy/portfwd"}
	for _, goos := range oses {
		for _, dep := range goList(t, goos, "-deps", "./app/berth-gui") {
			for _, b := range banned {
				if dep == b || strings.HasPrefix(dep, b+"/") {
					t.Errorf("berth-gui (%s) links %s: it may reach the daemon only through app/control, and its files through settings.Paths", goos, dep)
				}
			}
			if guestImpl(dep) {
				t.Errorf("berth-gui (%s) links %s: only %s of guestd", goos, dep, protocol)
			}
		}
	}
}
