package diskwatch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// HungTasks counts the kernel's hung-task reports ("INFO: task NAME:PID
// blocked for more than N seconds."), which it makes once a task has
// waited uninterruptibly for hung_task_timeout_secs (120 by default).
// Kernels from 6.15 keep the count in /proc/sys/kernel/hung_task_detect_count;
// before that, the reports are counted in the kernel log.
type HungTasks struct {
	mu    sync.Mutex
	count uint64
	last  string
}

// Get returns the reports counted so far and the latest one.
func (h *HungTasks) Get() (uint64, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count, h.last
}

// Set records the kernel's own count (hung_task_detect_count).
func (h *HungTasks) Set(n uint64) {
	h.mu.Lock()
	h.count = n
	h.mu.Unlock()
}

// Line counts one kernel log message if it is a hung-task report.
func (h *HungTasks) Line(msg string) {
	task, ok := ParseHungTask(msg)
	if !ok {
		return
	}
	h.mu.Lock()
	h.count++
	h.last = task
	h.mu.Unlock()
}

// ParseHungTask picks the task out of a hung-task report:
// "INFO: task jbd2/vdb-8:215 blocked for more than 120 seconds." gives
// "jbd2/vdb-8:215 blocked for more than 120 seconds".
func ParseHungTask(msg string) (string, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(msg), "INFO: task ")
	if !ok || !strings.Contains(rest, " blocked for more than ") {
		return "", false
	}
	return strings.TrimSuffix(rest, "."), true
}

// ReadCount reads hung_task_detect_count at path; false when the kernel
// has none.
func ReadCount(path string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil
}

// FollowKmsg counts the hung-task reports in the kernel log read from r
// (/dev/kmsg: one record a read, "PRI,SEQ,USEC,FLAGS;MESSAGE", then
// continuation lines that start with a space) until r ends or fails.
// Records overwritten before they were read (EPIPE) are skipped.
func (h *HungTasks) FollowKmsg(ctx context.Context, r io.Reader) error {
	buf := make([]byte, 8192)
	for ctx.Err() == nil {
		n, err := r.Read(buf)
		if errors.Is(err, syscall.EPIPE) {
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("kernel log: %w", err)
		}
		h.record(string(buf[:n]))
	}
	return ctx.Err()
}

func (h *HungTasks) record(rec string) {
	sc := bufio.NewScanner(strings.NewReader(rec))
	if !sc.Scan() {
		return
	}
	if _, msg, ok := strings.Cut(sc.Text(), ";"); ok {
		h.Line(msg)
	}
}
