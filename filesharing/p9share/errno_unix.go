//go:build unix

package p9share

import (
	"errors"
	"runtime"
	"syscall"

	"github.com/hugelgupf/p9/linux"
)

// hostErrno: Linux's own numbers pass as they are; other Unixes share
// Linux's up to 34 and name the rest differently.
func hostErrno(err error) linux.Errno {
	var se syscall.Errno
	if !errors.As(err, &se) {
		return 0
	}
	if runtime.GOOS == "linux" || se <= 34 {
		return linux.Errno(se)
	}
	switch se {
	case syscall.ELOOP:
		return linux.ELOOP
	case syscall.ENOTEMPTY:
		return linux.ENOTEMPTY
	case syscall.ENAMETOOLONG:
		return linux.ENAMETOOLONG
	case syscall.EOPNOTSUPP:
		return linux.EOPNOTSUPP
	}
	return 0
}
