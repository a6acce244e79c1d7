//go:build !windows

package allusers

import (
	"errors"
	"io/fs"
	"syscall"
)

// refused: nothing listens on the socket (ECONNREFUSED).
func refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// denied: the socket's permissions keep this user out.
func denied(err error) bool { return errors.Is(err, fs.ErrPermission) }
