package diskwatch

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)

// step is one sample of one device, s seconds after t0.
type step struct {
	s         int
	inFlight  uint64
	completed uint64
	hung      uint64
	stalled   bool // expected verdict
}

func TestDetector(t *testing.T) {
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"idle", []step{{0, 0, 10, 0, false}, {30, 0, 10, 0, false}, {120, 0, 10, 0, false}}},
		{"busy, progressing", []step{{0, 4, 10, 0, false}, {20, 4, 11, 0, false}, {40, 4, 12, 0, false}, {60, 4, 13, 0, false}}},
		// Under emulation one completion every 25 s is slow, not stalled.
		{"slow but moving", []step{{0, 12, 100, 0, false}, {25, 12, 101, 0, false}, {50, 12, 102, 0, false}, {75, 12, 103, 0, false}}},
		{"in flight, no progress: flagged after the bound", []step{
			{0, 12, 100, 0, false}, {10, 12, 100, 0, false}, {29, 12, 100, 0, false}, {30, 12, 100, 0, true}, {300, 12, 100, 0, true},
		}},
		{"clears on progress", []step{
			{0, 12, 100, 0, false}, {40, 12, 100, 0, true}, {45, 12, 101, 0, false}, {70, 12, 101, 0, false}, {75, 12, 101, 0, true},
		}},
		{"clears when the queue empties", []step{{0, 1, 5, 0, false}, {35, 1, 5, 0, true}, {40, 0, 5, 0, false}, {80, 0, 5, 0, false}}},
		{"the bound counts from the first sample with requests in flight", []step{
			{0, 0, 5, 0, false}, {100, 3, 5, 0, false}, {125, 3, 5, 0, false}, {130, 3, 5, 0, true},
		}},
		{"a counter reset is progress", []step{{0, 2, 500, 0, false}, {25, 2, 3, 0, false}, {50, 2, 3, 0, false}, {55, 2, 3, 0, true}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var d Detector
			for _, st := range c.steps {
				got := d.Observe(Sample{At: t0.Add(time.Duration(st.s) * time.Second), Disks: map[string]Counters{"vdb": {InFlight: st.inFlight, Completed: st.completed}}})
				if (len(got) > 0) != st.stalled {
					t.Fatalf("at %ds: stalls %+v, want stalled=%v", st.s, got, st.stalled)
				}
				if len(got) > 0 && (got[0].Device != "vdb" || got[0].InFlight != st.inFlight) {
					t.Fatalf("at %ds: %+v", st.s, got[0])
				}
			}
		})
	}
}

func TestDetectorSinceAndHungTasks(t *testing.T) {
	d := Detector{Bound: 30 * time.Second}
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	obs := func(s int, vdb, vda Counters, hung uint64, task string) []Stall {
		return d.Observe(Sample{At: at(s), Disks: map[string]Counters{"vdb": vdb, "vda": vda}, HungTasks: hung, HungTask: task})
	}
	obs(0, Counters{2, 10}, Counters{0, 7}, 1, "old:1 blocked for more than 120 seconds")
	obs(10, Counters{12, 11}, Counters{0, 7}, 1, "")
	// vdb's last progress was at 10 s; vda starts stalling at 20 s.
	obs(20, Counters{12, 11}, Counters{1, 7}, 1, "")
	got := obs(45, Counters{12, 11}, Counters{1, 7}, 1, "")
	if len(got) != 1 || got[0].Device != "vdb" || !got[0].Since.Equal(at(10)) || got[0].HungTasks != 0 {
		t.Fatalf("at 45s: %+v", got)
	}
	got = obs(130, Counters{12, 11}, Counters{1, 7}, 3, "jbd2/vdb-8:215 blocked for more than 120 seconds")
	if len(got) != 2 || got[0].Device != "vdb" || got[1].Device != "vda" || !got[1].Since.Equal(at(20)) {
		t.Fatalf("at 130s: %+v", got)
	}
	if got[0].HungTasks != 2 || got[0].HungTask != "jbd2/vdb-8:215 blocked for more than 120 seconds" {
		t.Fatalf("hung tasks not noted: %+v", got[0])
	}
	// A device that goes away is forgotten.
	if got := d.Observe(Sample{At: at(140), Disks: map[string]Counters{"vda": {1, 8}}}); len(got) != 0 {
		t.Fatalf("after vdb left and vda progressed: %+v", got)
	}
}

func TestReport(t *testing.T) {
	if Report(nil, "vdb") != nil {
		t.Fatal("no stalls reported")
	}
	stalls := []Stall{{Device: "loop0", Since: t0, InFlight: 1}, {Device: "vdb", Since: t0.Add(time.Second), InFlight: 12, HungTasks: 2, HungTask: "jbd2/vdb-8:215 blocked for more than 120 seconds"}}
	r := Report(stalls, "vdb")
	if r.Device != "vdb" || !r.DataDisk || r.InFlight != 12 || r.HungTasks != 2 || len(r.Others) != 1 || r.Others[0] != "loop0" {
		t.Fatalf("data disk first: %+v", r)
	}
	r = Report(stalls[:1], "vdb")
	if r.Device != "loop0" || r.DataDisk || !r.Stacked || !r.Since.Equal(t0) || r.Others != nil {
		t.Fatalf("loop0: %+v", r)
	}
	// A disk of the machine comes before a device made in it.
	r = Report([]Stall{{Device: "dm-0", Since: t0}, {Device: "loop1", Since: t0}, {Device: "vda", Since: t0.Add(time.Minute)}}, "vdb")
	if r.Device != "vda" || r.Stacked || r.DataDisk || len(r.Others) != 2 {
		t.Fatalf("vda: %+v", r)
	}
}
