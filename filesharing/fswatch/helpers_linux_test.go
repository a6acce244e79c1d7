//go:build linux

package fswatch

import (
	"bytes"
	"strconv"
	"sync"
)

type syncWriter struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func itoa(i int) string { return strconv.Itoa(i) }
