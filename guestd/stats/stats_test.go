package stats

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseProc(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "stat"), []byte("cpu  100 0 100 700 100 0 0 0 50 0\ncpu0 50 0 50 350 50 0 0 0 0 0\ncpu1 50 0 50 350 50 0 0 0 0 0\nintr 1 2 3\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "meminfo"), []byte("MemTotal:        2000 kB\nMemFree:          500 kB\nMemAvailable:    1500 kB\nBuffers:          100 kB\nCached:           800 kB\nShmem:            300 kB\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "pressure"), 0o755)
	os.WriteFile(filepath.Join(dir, "pressure", "memory"), []byte("some avg10=2.50 avg60=1.00 avg300=0.20 total=123\nfull avg10=1.00 avg60=0.00 avg300=0.00 total=45\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "loadavg"), []byte("0.50 0.20 0.10 1/100 42\n"), 0o644)
	busy, total, cpus, err := CPUTimes(filepath.Join(dir, "stat"))
	if err != nil {
		t.Fatal(err)
	}
	if busy != 200 || total != 1000 || cpus != 2 {
		t.Fatalf("busy %d total %d cpus %d, want 200 1000 2", busy, total, cpus)
	}
	s, err := Reader{Proc: dir, DataDisk: dir}.Read()
	if err != nil {
		t.Fatal(err)
	}
	if s.Memory.Total != 2000*1024 || s.Memory.Used != 500*1024 || s.Load1 != 0.5 || s.CPUs != 2 {
		t.Fatalf("stats %+v", s)
	}
	if d := s.MemoryDetail; d == nil || d.Available != 1500*1024 || d.Cache != 600*1024 || !d.HasPressure || d.Pressure != 2.5 {
		t.Fatalf("memory detail %+v", s.MemoryDetail)
	}
	if s.DataDisk.Total == 0 || s.DataDisk.Used > s.DataDisk.Total {
		t.Fatalf("data disk %+v", s.DataDisk)
	}
}

func TestLiveProc(t *testing.T) {
	s, err := Reader{Proc: "/proc", Interval: 50e6}.Read()
	if err != nil {
		t.Fatal(err)
	}
	if s.CPUs < 1 || s.CPUPercent < 0 || s.CPUPercent > 100 || s.Memory.Used == 0 || s.MemoryDetail == nil || s.MemoryDetail.Available == 0 {
		t.Fatalf("implausible live stats %+v", s)
	}
}

func TestMissingFiles(t *testing.T) {
	if _, err := (Reader{Proc: t.TempDir()}).Read(); err == nil {
		t.Fatal("want an error for a missing /proc/stat")
	}
}

// A kernel without PSI has no /proc/pressure: the stats still read, and
// say the pressure is unknown rather than nil.
func TestNoPressureFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "stat"), []byte("cpu  1 0 1 7 1 0 0 0 0 0\ncpu0 1 0 1 7 1 0 0 0 0 0\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "meminfo"), []byte("MemTotal: 2000 kB\nMemAvailable: 3000 kB\nCached: 10 kB\nShmem: 50 kB\n"), 0o644)
	s, err := Reader{Proc: dir}.Read()
	if err != nil {
		t.Fatal(err)
	}
	if d := s.MemoryDetail; d == nil || d.HasPressure || d.Available != 2000*1024 || d.Cache != 0 || s.Memory.Used != 0 {
		t.Fatalf("stats %+v, detail %+v", s.Memory, s.MemoryDetail)
	}
}

func TestPressureRefusesWhatItCannotRead(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "memory")
	os.WriteFile(p, []byte("full avg10=3.00\n"), 0o644)
	if _, err := Pressure(p); err == nil {
		t.Fatal("no some line: no error")
	}
	if _, err := Pressure(filepath.Join(dir, "none")); err == nil {
		t.Fatal("no file: no error")
	}
}
