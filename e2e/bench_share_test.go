//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// benchScript runs inside the guest: each operation on the share, then on
// the guest's own ext4 (the data disk), with the guest's page cache dropped
// before every read so reads reach the filesystem. It prints
// "OP WHERE MILLISECONDS" lines.
//
// The share's small-file phases run in a 12 MiB memory cgroup: QEMU's C
// virtiofsd keeps a file descriptor open for every inode the guest holds,
// and where its open-files limit cannot be raised (a hard limit of 20,000 on
// our CI machines) the guest's inode cache would otherwise pin more than
// that and the 20,000th file fails with EMFILE. Under the cgroup's memory
// limit the kernel evicts cached inodes, which releases them on the host.
// The local side runs unconstrained: ext4 under that limit thrashes its
// inode-table cache and measures the limit, not the filesystem. If anything
// this handicaps the share.
const benchScript = `set -e
share=$1 local=/var/lib/berth/bench
rm -rf "$local" "$share/bench"; mkdir -p "$local" "$share/bench"
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
cg=/sys/fs/cgroup/berth-bench
echo +memory > /sys/fs/cgroup/cgroup.subtree_control
mkdir -p $cg; echo 12M > $cg/memory.max
for where in share local; do
  d=$local; [ $where = share ] && d=$share/bench
  drop; s=$(date +%s%N); dd if=/dev/zero of=$d/big bs=1M count=1024 conv=fsync 2>/dev/null; echo "write-1GiB $where $(ms $s)"
  drop; s=$(date +%s%N); dd if=$d/big of=/dev/null bs=1M 2>/dev/null; echo "read-1GiB $where $(ms $s)"
  rm -f $d/big
  mkdir $d/many
  [ $where = share ] && into="echo \$\$ > $cg/cgroup.procs;" || into=
  sh -c "$into cd $d/many; s=\$(date +%s%N); seq 1 20000 | xargs touch; echo create-20k $where \$(( (\$(date +%s%N) - s) / 1000000 ))"
  drop
  sh -c "$into s=\$(date +%s%N); n=\$(find $d/many -printf '%s\n' | wc -l); echo walk-stat-20k $where \$(( (\$(date +%s%N) - s) / 1000000 )); [ \$n = 20001 ] || { echo walk found \$n entries, want 20001 >&2; exit 1; }"
done
rm -rf "$local" "$share/bench"
rmdir $cg
`

// TestShareBench measures shared folders against the guest's local ext4,
// for each mechanism, side by side in one run (make bench-share). It prints
// ratios; it asserts nothing about speed.
func TestShareBench(t *testing.T) {
	if os.Getenv("BERTH_BENCH_SHARE") == "" {
		t.Skip("a benchmark: run `make bench-share`")
	}
	ops := []string{"write-1GiB", "read-1GiB", "create-20k", "walk-stat-20k"}
	type run struct {
		mech string
		ms   map[string]float64 // "op where" -> ms
	}
	var runs []run
	// The shipped image (cloud kernel) with virtiofs, then both mechanisms
	// on the generic kernel's image, the only one with 9p: the mechanisms
	// are compared on the same kernel.
	generic := os.Getenv("BERTH_GUEST_DIR_GENERIC")
	for _, m := range []struct{ name, fs, guestDir string }{
		{"virtiofs (cloud kernel)", "virtiofs", os.Getenv("BERTH_GUEST_DIR")},
		{"virtiofs (generic kernel)", "virtiofs", generic},
		{"9p (generic kernel)", "9p", generic},
	} {
		if m.guestDir == "" {
			t.Logf("%s: no guest image given, skipped", m.name)
			continue
		}
		e := newBerthEnv(t)
		e.extraEnv = []string{"BERTH_GUEST_DIR=" + m.guestDir, "BERTH_SHARE_FS=" + m.fs}
		dir := t.TempDir()
		home, _ := os.UserHomeDir()
		e.berth("start", "--cpus", "2", "--memory", "2", "--disk", "16", "--unmount", home, "--unmount", os.TempDir(), "--mount", dir)
		script := filepath.Join(dir, "bench.sh")
		if err := os.WriteFile(script, []byte(benchScript), 0o755); err != nil {
			t.Fatal(err)
		}
		out := e.berth("shell", "sh", script, dir)
		e.berth("stop")
		r := run{mech: m.name, ms: map[string]float64{}}
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 3 {
				v, err := strconv.ParseFloat(f[2], 64)
				if err == nil {
					r.ms[f[0]+" "+f[1]] = v
				}
			}
		}
		for _, op := range ops {
			if r.ms[op+" share"] == 0 || r.ms[op+" local"] == 0 {
				t.Fatalf("%s: no timing for %s in:\n%s", m.name, op, out)
			}
		}
		runs = append(runs, r)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\nBENCH shared folder vs the guest's local ext4, time ratio share/local (1.00 = as fast, 3.00 = three times slower)\n")
	for _, r := range runs {
		fmt.Fprintf(&b, "%s\n", r.mech)
		for _, op := range ops {
			s, l := r.ms[op+" share"], r.ms[op+" local"]
			fmt.Fprintf(&b, "  %-14s share %7.0f ms  local %7.0f ms  ratio %6.2f\n", op, s, l, s/l)
		}
	}
	if len(runs) == 3 {
		fmt.Fprintf(&b, "9p against virtiofs, same kernel: ratio of their share/local ratios (above 1.00: 9p slower)\n")
		for _, op := range ops {
			v, p := runs[1].ms[op+" share"]/runs[1].ms[op+" local"], runs[2].ms[op+" share"]/runs[2].ms[op+" local"]
			fmt.Fprintf(&b, "  %-14s %6.2f\n", op, p/v)
		}
	}
	t.Log(b.String())
	fmt.Print(b.String())
}
