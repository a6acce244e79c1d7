package diskwatch

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A real /sys/block/vdb/stat of Linux 6.12 (17 fields) while 12 writes
// were stuck, and the same counters in the 11- and 15-field forms of
// older kernels.
const (
	stat17 = "   10233      881   781410     8821   224611   164211  6373624  1877413       12  1045104  1893110        0        0        0        0    31205     7876\n"
	stat15 = "   10233      881   781410     8821   224611   164211  6373624  1877413       12  1045104  1893110        7        0        9        1\n"
	stat11 = "   10233      881   781410     8821   224611   164211  6373624  1877413       12  1045104  1893110\n"
)

func TestParseStat(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Stat
	}{
		{stat17, Stat{ReadsCompleted: 10233, WritesCompleted: 224611, InFlight: 12, FlushesCompleted: 31205}},
		{stat15, Stat{ReadsCompleted: 10233, WritesCompleted: 224611, InFlight: 12, DiscardsCompleted: 7}},
		{stat11, Stat{ReadsCompleted: 10233, WritesCompleted: 224611, InFlight: 12}},
	} {
		got, err := ParseStat(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseStat(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	if got := (Stat{ReadsCompleted: 1, WritesCompleted: 2, DiscardsCompleted: 3, FlushesCompleted: 4}).Completed(); got != 10 {
		t.Errorf("Completed = %d", got)
	}
	for _, bad := range []string{"", "1 2 3", "1 2 3 4 5 6 7 8 x 10 11", "1 2 3 4 5 6 7 8 -1 10 11"} {
		if _, err := ParseStat(bad); err == nil {
			t.Errorf("ParseStat(%q) accepted", bad)
		}
	}
}

func TestParseInflight(t *testing.T) {
	r, w, err := ParseInflight("       0       12\n")
	if err != nil || r != 0 || w != 12 {
		t.Fatalf("got %d %d %v", r, w, err)
	}
	for _, bad := range []string{"", "12", "1 2 3", "a 1"} {
		if _, _, err := ParseInflight(bad); err == nil {
			t.Errorf("ParseInflight(%q) accepted", bad)
		}
	}
}

func TestWatched(t *testing.T) {
	for name, want := range map[string]bool{
		"vda": true, "vdb": true, "sda": true, "xvda": true, "nvme0n1": true, "dm-0": true, "loop3": true,
		"ram0": false, "zram0": false, "sr0": false, "md0": false,
	} {
		if Watched(name) != want {
			t.Errorf("Watched(%q) = %v", name, !want)
		}
	}
}

// fakeSysfs writes a /sys/block of devices named to their stat and
// inflight ("" leaves inflight out).
func fakeSysfs(t *testing.T, root string, devs map[string][2]string) {
	t.Helper()
	for name, f := range devs {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(f[0]), 0o644); err != nil {
			t.Fatal(err)
		}
		if f[1] != "" {
			if err := os.WriteFile(filepath.Join(dir, "inflight"), []byte(f[1]), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestSysfsRead(t *testing.T) {
	root := t.TempDir()
	fakeSysfs(t, root, map[string][2]string{
		"vdb":   {stat17, "       0       12\n"},
		"vda":   {stat11, ""}, // no inflight: stat's field 9
		"zram0": {stat17, "0 1\n"},
	})
	got, err := Sysfs{Root: root, Match: Watched}.Read()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Counters{
		"vdb": {InFlight: 12, Completed: 10233 + 224611 + 31205},
		"vda": {InFlight: 12, Completed: 10233 + 224611},
	}
	if len(got) != len(want) || got["vdb"] != want["vdb"] || got["vda"] != want["vda"] {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	fakeSysfs(t, root, map[string][2]string{"vdc": {"garbage\n", ""}})
	if _, err := (Sysfs{Root: root}).Read(); err == nil || !strings.Contains(err.Error(), "vdc") {
		t.Fatalf("garbage stat: %v", err)
	}
	if _, err := (Sysfs{Root: filepath.Join(root, "none")}).Read(); err == nil {
		t.Fatal("missing root accepted")
	}
}

func TestHungTasks(t *testing.T) {
	if task, ok := ParseHungTask("INFO: task jbd2/vdb-8:215 blocked for more than 120 seconds."); !ok || task != "jbd2/vdb-8:215 blocked for more than 120 seconds" {
		t.Fatalf("ParseHungTask: %q %v", task, ok)
	}
	for _, no := range []string{"", "INFO: task dockerd:1 is fine", "task x blocked for more than 1 seconds"} {
		if _, ok := ParseHungTask(no); ok {
			t.Errorf("ParseHungTask(%q) matched", no)
		}
	}
	var h HungTasks
	kmsg := &records{recs: []string{
		"6,901,1034000000,-;virtio_blk virtio2: [vdb] 16777216 512-byte logical blocks\n",
		"3,1207,483110234,-;INFO: task jbd2/vdb-8:215 blocked for more than 120 seconds.\n SUBSYSTEM=block\n",
		"", // EPIPE: records were overwritten
		"3,1208,483110240,-;      Not tainted 6.12.48+deb13-cloud-amd64 #1 Debian 6.12.48-1\n",
		"3,1215,483111802,-;INFO: task dockerd:733 blocked for more than 120 seconds.\n",
	}}
	if err := h.FollowKmsg(context.Background(), kmsg); err != nil {
		t.Fatal(err)
	}
	if n, last := h.Get(); n != 2 || last != "dockerd:733 blocked for more than 120 seconds" {
		t.Fatalf("counted %d, last %q", n, last)
	}
	h.Set(7) // the kernel's own count wins where it has one
	if n, _ := h.Get(); n != 7 {
		t.Fatalf("after Set: %d", n)
	}
	p := filepath.Join(t.TempDir(), "hung_task_detect_count")
	os.WriteFile(p, []byte("3\n"), 0o644)
	if n, ok := ReadCount(p); !ok || n != 3 {
		t.Fatalf("ReadCount = %d %v", n, ok)
	}
	if _, ok := ReadCount(p + ".none"); ok {
		t.Fatal("missing count read")
	}
}

// records reads like /dev/kmsg: one record a read; "" is an EPIPE.
type records struct{ recs []string }

func (r *records) Read(p []byte) (int, error) {
	if len(r.recs) == 0 {
		return 0, io.EOF
	}
	rec := r.recs[0]
	r.recs = r.recs[1:]
	if rec == "" {
		return 0, syscall.EPIPE
	}
	return copy(p, rec), nil
}

func TestWatcherLogsOnce(t *testing.T) {
	root := t.TempDir()
	var logs bytes.Buffer
	w := &Watcher{
		Sysfs: Sysfs{Root: root, Match: Watched}, Hung: &HungTasks{},
		HungCountPath: filepath.Join(root, "no-such-count"),
		Log:           slog.New(slog.NewTextHandler(&logs, nil)),
	}
	set := func(completed int) {
		st := strings.Fields(stat17)
		st[4] = strings.Repeat("1", completed) // writes completed
		fakeSysfs(t, root, map[string][2]string{"vdb": {strings.Join(st, " "), "0 12"}})
	}
	set(1)
	for s := 0; s <= 60; s += 5 {
		w.Sample(t0.Add(time.Duration(s) * time.Second))
	}
	if st := w.Stalls(); len(st) != 1 || st[0].Device != "vdb" || !st[0].Since.Equal(t0) {
		t.Fatalf("stalls: %+v", st)
	}
	if n := strings.Count(logs.String(), "a disk stopped answering"); n != 1 {
		t.Fatalf("logged %d times:\n%s", n, logs.String())
	}
	set(2)
	w.Sample(t0.Add(65 * time.Second))
	if st := w.Stalls(); len(st) != 0 {
		t.Fatalf("after progress: %+v", st)
	}
	if !strings.Contains(logs.String(), "the disk answers again") {
		t.Fatalf("clear not logged:\n%s", logs.String())
	}
}
