//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bootMilestones are guestd's boot steps worth comparing, in boot order.
var bootMilestones = []string{"init", "modules-virtio_net", "network", "data-disk", "modules-virtio_console", "containerd-ready", "engine-ready", "ready"}

// TestBootBench boots guest images in turn (make bench-boot): the previous
// (Debian 12) image and the current one when BERTH_BENCH_BOOT=1, or the
// images it names as LABEL=DIR,... Each image boots once to format its data
// disk, then BERTH_BENCH_BOOT_ROUNDS times (default 3) on it, alternating
// with the others so that a busy machine slows them alike. It prints the
// median of each milestone (guest uptime), of QEMU launch to ready (host
// clock), and the image files' sizes; it asserts nothing about speed.
func TestBootBench(t *testing.T) {
	spec := os.Getenv("BERTH_BENCH_BOOT")
	if spec == "" {
		t.Skip("a benchmark: run `make bench-boot`")
	}
	type image struct{ label, dir string }
	var images []image
	if spec == "1" {
		images = []image{{"bookworm", os.Getenv("BERTH_GUEST_DIR_BOOKWORM")}, {"trixie", guestDir(t)}}
	} else {
		for _, kv := range strings.Split(spec, ",") {
			l, d, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("BERTH_BENCH_BOOT: %q is not LABEL=DIR", kv)
			}
			images = append(images, image{l, d})
		}
	}
	rounds := 3
	if r := os.Getenv("BERTH_BENCH_BOOT_ROUNDS"); r != "" {
		n, err := strconv.Atoi(r)
		if err != nil || n < 1 {
			t.Fatalf("BERTH_BENCH_BOOT_ROUNDS=%q: want a positive number", r)
		}
		rounds = n
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(len(images)*(rounds+1))*5*time.Minute)
	defer cancel()
	state := t.TempDir()
	samples := map[string]map[string][]float64{} // label -> milestone -> values
	for round := 0; round <= rounds; round++ {
		for _, im := range images {
			if im.dir == "" {
				t.Fatalf("no directory for image %s: run `make bench-boot`", im.label)
			}
			v := bootImage(t, ctx, im.dir, filepath.Join(state, im.label, strconv.Itoa(round)), filepath.Join(state, im.label+".img"))
			h, err := v.WaitReady(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ready := time.Since(v.Launched).Seconds()
			if err := v.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			if round == 0 {
				t.Logf("%s first boot (formats the data disk): launch -> ready %.1fs", im.label, ready)
				continue
			}
			m := samples[im.label]
			if m == nil {
				m = map[string][]float64{}
				samples[im.label] = m
			}
			m["launch->ready (host)"] = append(m["launch->ready (host)"], ready)
			for name, at := range bootSteps(h) {
				m[name] = append(m[name], at)
			}
		}
	}
	median := func(v []float64) float64 {
		if len(v) == 0 {
			return 0
		}
		s := slices.Clone(v)
		slices.Sort(s)
		return s[len(s)/2]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "median of %d boots each, seconds:\n%-24s", rounds, "milestone")
	for _, im := range images {
		fmt.Fprintf(&b, "%16s", im.label)
	}
	b.WriteString("   ratio (last/first)\n")
	for _, name := range append(slices.Clone(bootMilestones), "launch->ready (host)") {
		fmt.Fprintf(&b, "%-24s", name)
		for _, im := range images {
			fmt.Fprintf(&b, "%16.2f", median(samples[im.label][name]))
		}
		if first := median(samples[images[0].label][name]); first > 0 {
			fmt.Fprintf(&b, "   %.2f", median(samples[images[len(images)-1].label][name])/first)
		}
		b.WriteString("\n")
	}
	for _, f := range []string{"vmlinuz", "initrd.img", "system.img"} {
		fmt.Fprintf(&b, "%-24s", f+" (MB)")
		for _, im := range images {
			st, err := os.Stat(filepath.Join(im.dir, f))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%16.1f", float64(st.Size())/1e6)
		}
		b.WriteString("\n")
	}
	t.Log(b.String())
}
