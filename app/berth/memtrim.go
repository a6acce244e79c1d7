package main

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// A burst of forwarded traffic leaves tens of MiB in the daemon's heap:
// gvisor's pooled packet buffers and the copy buffers, at their busiest
// moment's count. Those pools allocate almost nothing once warm, so Go's
// collector then runs only every two minutes, and a pool's contents outlive
// one collection: an idle daemon would keep its busiest moment's memory.
// memTrimmer gives it back once the daemon has been quiet for a period.
type memTrimmer struct {
	every   time.Duration
	quiet   uint64 // bytes allocated in a period below which it was quiet
	floor   uint64 // heap bytes below which there is nothing worth trimming
	trimmed uint64 // the heap after the last trim
}

func newMemTrimmer() *memTrimmer {
	return &memTrimmer{every: 30 * time.Second, quiet: 4 << 20, floor: 24 << 20}
}

// due says whether to trim after a period in which allocated bytes were
// allocated, with heap bytes in the heap now: when the period was quiet and
// the heap has grown well past where the last trim left it.
func (m *memTrimmer) due(allocated, heap uint64) bool {
	return allocated < m.quiet && heap > m.floor && heap > m.trimmed+m.trimmed/2
}

func (m *memTrimmer) run(ctx context.Context, log *slog.Logger) {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	last := s[0].Value.Uint64()
	t := time.NewTicker(m.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(s)
		allocs, heap := s[0].Value.Uint64(), s[1].Value.Uint64()
		if m.due(allocs-last, heap) {
			// Two collections: the first moves pools' contents aside, the
			// second frees them; FreeOSMemory then returns the pages.
			runtime.GC()
			debug.FreeOSMemory()
			metrics.Read(s)
			m.trimmed = s[1].Value.Uint64()
			log.Debug("returned idle memory", "heap_before", heap, "heap_after", m.trimmed)
		}
		last = s[0].Value.Uint64()
	}
}
