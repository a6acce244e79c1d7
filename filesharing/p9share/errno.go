package p9share

import (
	"errors"
	"strings"

	"github.com/hugelgupf/p9/linux"
)

// errno is the Linux errno the guest gets for what the host said.
func errno(err error) linux.Errno {
	var e linux.Errno
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, errBadName):
		return linux.EINVAL
	case escapes(err):
		// A symlink or a path that leads out of the share: the guest
		// asked for something it may not have.
		return linux.EACCES
	}
	if e := hostErrno(err); e != 0 {
		return e
	}
	return linux.ExtractErrno(err)
}

// escapes says whether os.Root refused a path for leaving the root. os
// keeps that error unexported; its text is all there is to match.
func escapes(err error) bool {
	return err != nil && strings.Contains(err.Error(), "path escapes from parent")
}
