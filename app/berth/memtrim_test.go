package main

import "testing"

func TestMemTrimmerDue(t *testing.T) {
	m := newMemTrimmer()
	const mib = 1 << 20
	for _, c := range []struct {
		name            string
		allocated, heap uint64
		trimmed         uint64
		want            bool
	}{
		{"quiet after a burst", 100 << 10, 60 * mib, 0, true},
		{"still busy", 50 * mib, 60 * mib, 0, false},
		{"small heap", 0, 12 * mib, 0, false},
		{"nothing new since the last trim", 0, 30 * mib, 28 * mib, false},
		{"a new burst since the last trim", 0, 60 * mib, 28 * mib, true},
	} {
		m.trimmed = c.trimmed
		if got := m.due(c.allocated, c.heap); got != c.want {
			t.Errorf("%s: due(%d, %d) after a trim to %d = %v, want %v", c.name, c.allocated, c.heap, c.trimmed, got, c.want)
		}
	}
}
