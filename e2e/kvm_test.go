//go:build e2e

package e2e

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

var fallbackLine = regexp.MustCompile(`(?m)^\s*([0-9.]+)s\s+KVM does not work on this host \((.*)\): booting again`)

// Where /dev/kvm exists but does not work (nested hosts), berth start with
// nothing set notices during the boot it breaks, boots again under
// emulation, and says so with QEMU's words; later starts go straight to
// emulation. Prints the decision time and the start times next to a start
// with BERTH_ACCEL=tcg.
func TestKVMFallback(t *testing.T) {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skip("no /dev/kvm here: there is nothing to fall back from")
	}
	auto := newBerthEnv(t)
	began := time.Now()
	out := auto.berth("start")
	autoTotal := time.Since(began)
	m := fallbackLine.FindStringSubmatch(out)
	if m == nil {
		if strings.Contains(out, "emulating the CPU") {
			t.Skipf("KVM is not tried here:\n%s", out)
		}
		t.Logf("KVM works here: started in %.1fs\n%s", autoTotal.Seconds(), out)
		return
	}
	if m[2] == "" {
		t.Fatalf("the fallback does not say why:\n%s", out)
	}
	auto.berth("stop", "--force")

	tcg := newBerthEnv(t)
	tcg.extraEnv = []string{"BERTH_ACCEL=tcg"}
	began = time.Now()
	tcg.berth("start")
	tcgTotal := time.Since(began)
	tcg.berth("stop", "--force")

	began = time.Now()
	again := auto.berth("start")
	againTotal := time.Since(began)
	if fallbackLine.MatchString(again) || !strings.Contains(again, "KVM did not work on this host") {
		t.Fatalf("the second start did not go straight to emulation:\n%s", again)
	}
	t.Logf("KVMFALLBACK decided %ss after berth start (%s); started in %.1fs in all; again (remembered) %.1fs; with BERTH_ACCEL=tcg %.1fs",
		m[1], m[2], autoTotal.Seconds(), againTotal.Seconds(), tcgTotal.Seconds())
}
