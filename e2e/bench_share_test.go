//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// benchScript runs one step of the shared-folder benchmark inside the
// guest, on the share or on the guest's own ext4 (the data disk), and
// prints "OP WHERE MILLISECONDS": sh bench.sh SHARE STEP WHERE MIB FILES,
// STEP one of setup, write, read, create, walk, cleanup. The guest's page
// cache is dropped before every read; the host's copy of the shared file
// is dropped by the caller between write and read (shareBench), as the
// data disk (cache=none) has none.
//
// The share's small-file steps run in a 12 MiB memory cgroup: QEMU's C
// virtiofsd keeps a file descriptor open for every inode the guest holds,
// and where its open-files limit cannot be raised (a hard limit of 20,000 on
// our CI machines) the guest's inode cache would otherwise pin more than
// that and the 20,000th file fails with EMFILE. Under the cgroup's memory
// limit the kernel evicts cached inodes, which releases them on the host.
// The local side runs unconstrained: ext4 under that limit thrashes its
// inode-table cache and measures the limit, not the filesystem. If anything
// this handicaps the share.
const benchScript = `set -e
share=$1 step=$2 where=$3 mib=$4 files=$5
local=/var/lib/berth/bench cg=/sys/fs/cgroup/berth-bench
d=$local; [ "$where" = share ] && d=$share/bench
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
into=; [ "$where" = share ] && into="echo \$\$ > $cg/cgroup.procs;"
case $step in
setup)
  rm -rf "$local" "$share/bench"; mkdir -p "$local" "$share/bench"
  echo +memory > /sys/fs/cgroup/cgroup.subtree_control
  mkdir -p $cg; echo 12M > $cg/memory.max ;;
write) drop; s=$(date +%s%N); dd if=/dev/zero of=$d/big bs=1M count=$mib conv=fsync 2>/dev/null; echo "write $where $(ms $s)" ;;
read) drop; s=$(date +%s%N); dd if=$d/big of=/dev/null bs=1M 2>/dev/null; echo "read $where $(ms $s)"; rm -f $d/big ;;
create)
  rm -rf $d/many; mkdir $d/many
  sh -c "$into cd $d/many; s=\$(date +%s%N); seq 1 $files | xargs touch; echo create $where \$(( (\$(date +%s%N) - s) / 1000000 ))" ;;
walk)
  drop
  sh -c "$into s=\$(date +%s%N); n=\$(find $d/many -printf '%s\n' | wc -l); echo walk-stat $where \$(( (\$(date +%s%N) - s) / 1000000 )); [ \$n = $(( files + 1 )) ] || { echo walk found \$n entries, want $(( files + 1 )) >&2; exit 1; }"
  rm -rf $d/many ;;
cleanup) rm -rf "$local" "$share/bench"; rmdir $cg ;;
esac
`

// shareSize is how much a shared-folder benchmark moves: a file of MiB
// mebibytes, Files small files.
type shareSize struct{ MiB, Files int }

var fullShare = shareSize{MiB: 1024, Files: 20000}

// shareOps are the benchmark's operations as its rows name them.
func (z shareSize) ops() map[string]string {
	return map[string]string{
		"write": fmt.Sprintf("write-%dMiB", z.MiB), "read": fmt.Sprintf("read-%dMiB", z.MiB),
		"create": fmt.Sprintf("create-%d", z.Files), "walk-stat": fmt.Sprintf("walk-stat-%d", z.Files),
	}
}

// shareBench runs benchScript's steps on the running machine of e for
// rounds rounds, the share and the guest's ext4 taking turns to go first
// (share first in even rounds), and returns each "OP WHERE"'s times in ms.
// Before each read of the share, the host's page cache of the shared file
// is dropped (posix_fadvise DONTNEED on the host file, which virtiofsd and
// the 9P server read through), so both sides read what no cache holds.
func shareBench(t *testing.T, e *berthEnv, dir string, rounds int, z shareSize) map[string][]float64 {
	script := filepath.Join(dir, "bench.sh")
	if err := os.WriteFile(script, []byte(benchScript), 0o755); err != nil {
		t.Fatal(err)
	}
	times := map[string][]float64{}
	step := func(name, where string) {
		out := e.berth("shell", "sh", script, dir, name, where, strconv.Itoa(z.MiB), strconv.Itoa(z.Files))
		if f := strings.Fields(lastLine(out)); name != "setup" && name != "cleanup" {
			if len(f) != 3 {
				t.Fatalf("%s on the %s: %q", name, where, out)
			}
			v, err := strconv.ParseFloat(f[2], 64)
			if err != nil {
				t.Fatalf("%s on the %s: %q", name, where, out)
			}
			times[f[0]+" "+where] = append(times[f[0]+" "+where], v)
		}
	}
	step("setup", "share")
	for r := range rounds {
		order := []string{"share", "local"}
		if r%2 == 1 {
			order = []string{"local", "share"}
		}
		for _, where := range order {
			step("write", where)
			if where == "share" {
				dropHostCache(t, filepath.Join(dir, "bench", "big"))
			}
			step("read", where)
			step("create", where)
			step("walk", where)
		}
	}
	step("cleanup", "share")
	return times
}

// dropHostCache evicts the host's cached pages of path (clean after the
// guest's fsync): what a normal user may do to a file of their own.
func dropHostCache(t *testing.T, path string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatalf("drop the host's cache of %s: %v", path, err)
	}
}

// TestShareBench measures shared folders against the guest's local ext4,
// for each mechanism, side by side in one run (make bench-share), medians
// of BERTH_BENCH_ROUNDS rounds (3) in which share and ext4 take turns to go
// first. It prints ratios; it asserts nothing about speed.
func TestShareBench(t *testing.T) {
	if os.Getenv("BERTH_BENCH_SHARE") == "" {
		t.Skip("a benchmark: run `make bench-share`")
	}
	rounds := benchRounds(t)
	ops := []string{"write", "read", "create", "walk-stat"}
	names := fullShare.ops()
	type run struct {
		mech string
		ms   map[string]float64 // "op where" -> median ms
	}
	var runs []run
	// The shipped image (cloud kernel) with virtiofs, then both mechanisms
	// on the generic kernel's image, the only one with 9p: the mechanisms
	// are compared on the same kernel.
	generic := os.Getenv("BERTH_GUEST_DIR_GENERIC")
	type mech struct{ name, fs, guestDir, tuning string }
	mechs := []mech{
		{"virtiofs (cloud kernel)", "virtiofs", os.Getenv("BERTH_GUEST_DIR"), ""},
		{"virtiofs (generic kernel)", "virtiofs", generic, ""},
		{"9p (generic kernel)", "9p", generic, ""},
	}
	// BERTH_BENCH_SHARE_TUNING="LABEL=TUNING;..." measures virtiofsd's
	// settings instead (BERTH_VIRTIOFS's syntax; an empty TUNING is
	// Berth's default), each on the shipped image, in turn.
	if spec := os.Getenv("BERTH_BENCH_SHARE_TUNING"); spec != "" {
		mechs = nil
		for _, kv := range strings.Split(spec, ";") {
			label, tuning, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("BERTH_BENCH_SHARE_TUNING: %q is not LABEL=TUNING", kv)
			}
			mechs = append(mechs, mech{"virtiofs " + label, "virtiofs", os.Getenv("BERTH_GUEST_DIR"), tuning})
		}
	}
	for _, m := range mechs {
		if m.guestDir == "" {
			t.Logf("%s: no guest image given, skipped", m.name)
			continue
		}
		e := newBerthEnv(t)
		e.extraEnv = []string{"BERTH_GUEST_DIR=" + m.guestDir, "BERTH_SHARE_FS=" + m.fs, "BERTH_VIRTIOFS=" + m.tuning}
		dir := t.TempDir()
		home, _ := os.UserHomeDir()
		e.berth("start", "--cpus", "2", "--memory", "2", "--disk", "16", "--unmount", home, "--unmount", os.TempDir(), "--mount", dir)
		times := shareBench(t, e, dir, rounds, fullShare)
		e.berth("stop")
		r := run{mech: m.name, ms: map[string]float64{}}
		for k, v := range times {
			r.ms[k] = medianOf(v)
		}
		runs = append(runs, r)
		// Each as it ends: a later one that hangs does not lose it.
		for _, op := range ops {
			t.Logf("BENCH %s %s: share %.0f ms, local %.0f ms, ratio %.2f", m.name, names[op], r.ms[op+" share"], r.ms[op+" local"], r.ms[op+" share"]/r.ms[op+" local"])
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\nBENCH shared folder vs the guest's local ext4, medians of %d rounds taking turns, host and guest caches dropped before reads; time ratio share/local (1.00 = as fast, 3.00 = three times slower)\n", rounds)
	for _, r := range runs {
		fmt.Fprintf(&b, "%s\n", r.mech)
		for _, op := range ops {
			s, l := r.ms[op+" share"], r.ms[op+" local"]
			fmt.Fprintf(&b, "  %-16s share %7.0f ms  local %7.0f ms  ratio %6.2f\n", names[op], s, l, s/l)
		}
	}
	if len(runs) == 3 && os.Getenv("BERTH_BENCH_SHARE_TUNING") == "" {
		fmt.Fprintf(&b, "9p against virtiofs, same kernel: ratio of their share/local ratios (above 1.00: 9p slower)\n")
		for _, op := range ops {
			v, p := runs[1].ms[op+" share"]/runs[1].ms[op+" local"], runs[2].ms[op+" share"]/runs[2].ms[op+" local"]
			fmt.Fprintf(&b, "  %-16s %6.2f\n", names[op], p/v)
		}
	}
	t.Log(b.String())
	fmt.Print(b.String())
}
