package p9share

import (
	"syscall"
	"time"
)

func statTimes(st *syscall.Stat_t) (a, m, c syscall.Timespec, b time.Time) {
	return st.Atimespec, st.Mtimespec, st.Ctimespec, time.Unix(st.Birthtimespec.Unix())
}
