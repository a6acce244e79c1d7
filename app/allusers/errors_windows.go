package allusers

import (
	"errors"
	"io/fs"

	"golang.org/x/sys/windows"
)

// refused: nothing listens on the socket. Winsock's AF_UNIX answers
// WSAECONNREFUSED (10061), which Go's syscall.ECONNREFUSED on Windows is
// not (it is an invented number), so the Winsock code is matched.
func refused(err error) bool { return errors.Is(err, windows.WSAECONNREFUSED) }

// denied: the socket's security descriptor keeps this account out
// (WSAEACCES, 10013), or the folder's ACL does (ERROR_ACCESS_DENIED).
func denied(err error) bool {
	return errors.Is(err, windows.WSAEACCES) || errors.Is(err, fs.ErrPermission)
}
