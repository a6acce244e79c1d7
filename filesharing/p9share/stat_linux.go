package p9share

import (
	"syscall"
	"time"
)

// statTimes: Linux's stat has no birth time (statx has; not worth it here).
func statTimes(st *syscall.Stat_t) (a, m, c syscall.Timespec, b time.Time) {
	return st.Atim, st.Mtim, st.Ctim, time.Time{}
}
