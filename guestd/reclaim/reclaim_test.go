package reclaim

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthvm/berth/internal/syncbuf"
)

func TestMemPolicyWaitsForIdleThenStepsDownToTheFloor(t *testing.T) {
	p := MemPolicy{IdleSamples: 3, MaxBusy: 0.1, MaxPressure: 0.5, Step: 100, Floor: 50}
	idle := MemSample{CPUBusy: 0.02, FileCache: 400}
	for i := 0; i < 2; i++ {
		if n := p.Next(idle); n != 0 || p.Quiet() {
			t.Fatalf("sample %d of 3 idle: dropped %d, quiet %v", i+1, n, p.Quiet())
		}
	}
	if n := p.Next(idle); n != 100 || !p.Quiet() {
		t.Fatalf("third idle sample: dropped %d, quiet %v; want a step of 100, quiet", n, p.Quiet())
	}
	// Near the floor only what is above it goes.
	if n := p.Next(MemSample{CPUBusy: 0.02, FileCache: 120}); n != 70 {
		t.Fatalf("120 cached, floor 50: dropped %d, want 70", n)
	}
	if n := p.Next(MemSample{CPUBusy: 0.02, FileCache: 50}); n != 0 {
		t.Fatalf("at the floor: dropped %d", n)
	}
}

func TestMemPolicyBacksOffAtOnce(t *testing.T) {
	for _, busy := range []MemSample{
		{CPUBusy: 0.5, FileCache: 1000},                 // a build starts
		{CPUBusy: 0.01, Pressure: 2.5, FileCache: 1000}, // something waits on memory
	} {
		p := MemPolicy{IdleSamples: 2, MaxBusy: 0.1, MaxPressure: 0.5, Step: 100, Floor: 0}
		idle := MemSample{CPUBusy: 0.01, FileCache: 1000}
		p.Next(idle)
		if n := p.Next(idle); n == 0 {
			t.Fatal("idle: nothing dropped")
		}
		if n := p.Next(busy); n != 0 {
			t.Fatalf("%+v: dropped %d", busy, n)
		}
		// Idle again: the whole idle period is waited out again.
		if n := p.Next(idle); n != 0 {
			t.Fatalf("first idle sample after %+v: dropped %d", busy, n)
		}
	}
	p := MemPolicy{IdleSamples: 1, MaxBusy: 0.1, MaxPressure: 0.5, Step: 100}
	if p.Next(MemSample{FileCache: 1000}) == 0 {
		t.Fatal("idle: nothing dropped")
	}
	p.Backoff()
	p.IdleSamples = 2
	if n := p.Next(MemSample{FileCache: 1000}); n != 0 {
		t.Fatalf("after a backoff: dropped %d at once", n)
	}
}

// fakeProc writes /proc's stat, pressure and meminfo files.
func fakeProc(t *testing.T, dir string, busy, idle int, avg10 string, fileKB int) {
	t.Helper()
	os.MkdirAll(filepath.Join(dir, "pressure"), 0o755)
	files := map[string]string{
		"stat":            "cpu  " + itoa(busy) + " 0 0 " + itoa(idle) + " 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\n",
		"pressure/memory": "some avg10=" + avg10 + " avg60=0.00 avg300=0.00 total=12\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
		"meminfo":         "MemTotal: 2000000 kB\nShmem: 900000 kB\nActive(file): " + itoa(fileKB/2) + " kB\nInactive(file): " + itoa(fileKB-fileKB/2) + " kB\n",
	}
	for name, s := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestMemorySampleAndReclaim(t *testing.T) {
	proc, cg := t.TempDir(), t.TempDir()
	reclaimFile := filepath.Join(cg, "memory.reclaim")
	os.WriteFile(reclaimFile, nil, 0o644)
	m := &Memory{Proc: proc, Cgroup: cg}
	fakeProc(t, proc, 100, 900, "0.00", 1000)
	s, err := m.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if s.CPUBusy != 1 {
		t.Fatalf("the first sample has no interval and must not count as idle: busy %v", s.CPUBusy)
	}
	fakeProc(t, proc, 105, 995, "1.25", 1000)
	if s, err = m.Sample(); err != nil {
		t.Fatal(err)
	}
	// 5 busy of 100 ticks; shmem is not cache that can be dropped.
	if s.CPUBusy != 0.05 || s.Pressure != 1.25 || s.FileCache != 1000*1024 {
		t.Fatalf("sample %+v, want busy 0.05, pressure 1.25, cache 1024000", s)
	}
	if err := m.reclaim(128 << 20); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(reclaimFile); string(b) != "134217728" {
		t.Fatalf("memory.reclaim got %q", b)
	}
}

func TestMemoryRunDropsOnlyWhenIdle(t *testing.T) {
	proc, cg := t.TempDir(), t.TempDir()
	reclaimFile := filepath.Join(cg, "memory.reclaim")
	os.WriteFile(reclaimFile, nil, 0o644)
	fakeProc(t, proc, 0, 0, "0.00", 1<<20) // 1 GiB cached, no CPU time passes
	m := &Memory{Proc: proc, Cgroup: cg, Interval: time.Millisecond, Policy: DefaultMemPolicy(), Log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	m.Run(ctx)
	// CPU times that never advance make no interval: never idle.
	if b, _ := os.ReadFile(reclaimFile); len(b) != 0 {
		t.Fatalf("dropped %q with no idle interval seen", b)
	}
}

func TestEnableMGLRU(t *testing.T) {
	sys := t.TempDir()
	if err := EnableMGLRU(sys); err != nil {
		t.Fatalf("a kernel without lru_gen: %v", err)
	}
	p := filepath.Join(sys, "kernel", "mm", "lru_gen", "enabled")
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte("0x0000"), 0o644)
	if err := EnableMGLRU(sys); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "y" {
		t.Fatalf("lru_gen/enabled is %q", b)
	}
}

func TestTrimPolicy(t *testing.T) {
	p := TrimPolicy{Threshold: 100}
	steps := []struct {
		free uint64
		trim bool
	}{
		{1000, false}, // first sight
		{900, false},  // images pulled: the low mark follows
		{400, false},
		{450, false}, // 50 freed
		{499, false},
		{500, true}, // 100 freed since the low mark
	}
	for i, s := range steps {
		if got := p.Next(s.free); got != s.trim {
			t.Fatalf("step %d (free %d): trim %v, want %v", i, s.free, got, s.trim)
		}
	}
	p.Trimmed(500)
	if p.Next(550) {
		t.Fatal("50 freed since the trim: trimmed again")
	}
	if !p.Next(600) {
		t.Fatal("100 freed since the trim: no trim")
	}
}

func TestTrimNowNamesThePath(t *testing.T) {
	if _, err := TrimNow(filepath.Join(t.TempDir(), "gone")); err == nil {
		t.Fatal("trimming a missing path: no error")
	}
}

// After Last, Run's trims stop: the filesystem is about to be unmounted.
func TestTrimLastIsLast(t *testing.T) {
	var log bytes.Buffer
	tr := &Trim{Path: filepath.Join(t.TempDir(), "gone"), Log: slog.New(slog.NewTextHandler(&log, nil))}
	if _, err := tr.Last(); err == nil || errors.Is(err, errLast) {
		t.Fatalf("first Last: %v, want the trim's own error", err)
	}
	if _, err := tr.Last(); !errors.Is(err, errLast) {
		t.Fatalf("second Last: %v, want errLast", err)
	}
	tr.trim("space freed", 1)
	tr.Path = t.TempDir() // Now reads free space first: a path that exists
	if _, err := tr.Now(); !errors.Is(err, errLast) {
		t.Fatalf("Now after Last: %v, want errLast", err)
	}
	if log.Len() != 0 {
		t.Fatalf("a trim after Last tried the filesystem:\n%s", log.String())
	}
}

// Run's trims, the boot's first, wait for a quiet guest.
func TestTrimRunWaitsForQuiet(t *testing.T) {
	var log syncbuf.Buffer
	var quiet atomic.Bool
	tr := &Trim{Path: t.TempDir(), Interval: 10 * time.Millisecond, Log: slog.New(slog.NewTextHandler(&log, nil)), Quiet: quiet.Load}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go tr.Run(ctx)
	time.Sleep(200 * time.Millisecond)
	if s := log.String(); strings.Contains(s, "data disk trim") {
		t.Fatalf("trimmed while the guest was busy:\n%s", s)
	}
	quiet.Store(true)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(log.String(), "why=boot") {
		if time.Now().After(deadline) {
			t.Fatalf("no boot trim once quiet:\n%s", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
