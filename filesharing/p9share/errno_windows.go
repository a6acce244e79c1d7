package p9share

import (
	"errors"
	"syscall"

	"github.com/hugelgupf/p9/linux"
	"golang.org/x/sys/windows"
)

// windowsErrnos maps Windows errors to what a Linux file system says for
// the same thing; p9's own table knows only five.
var windowsErrnos = []struct {
	win   error
	linux linux.Errno
}{
	{windows.ERROR_FILE_NOT_FOUND, linux.ENOENT},
	{windows.ERROR_PATH_NOT_FOUND, linux.ENOENT},
	{windows.ERROR_ACCESS_DENIED, linux.EACCES},
	{windows.ERROR_ALREADY_EXISTS, linux.EEXIST},
	{windows.ERROR_FILE_EXISTS, linux.EEXIST},
	{windows.ERROR_DIR_NOT_EMPTY, linux.ENOTEMPTY},
	{windows.ERROR_NOT_SAME_DEVICE, linux.EXDEV},
	{windows.ERROR_PRIVILEGE_NOT_HELD, linux.EPERM},
	{windows.ERROR_SHARING_VIOLATION, linux.EBUSY},
	{windows.ERROR_LOCK_VIOLATION, linux.EBUSY},
	{windows.ERROR_INVALID_NAME, linux.EINVAL},
	{windows.ERROR_BAD_PATHNAME, linux.EINVAL},
	{windows.ERROR_DIRECTORY, linux.ENOTDIR},
	{windows.ERROR_DISK_FULL, linux.ENOSPC},
	{windows.ERROR_HANDLE_DISK_FULL, linux.ENOSPC},
	{windows.ERROR_FILENAME_EXCED_RANGE, linux.ENAMETOOLONG},
	{windows.ERROR_NOT_SUPPORTED, linux.EOPNOTSUPP},
	{windows.ERROR_WRITE_PROTECT, linux.EROFS},
	{windows.ERROR_CANT_RESOLVE_FILENAME, linux.ELOOP},
	// os.Root says these with Go's invented errnos.
	{syscall.ELOOP, linux.ELOOP},
	{syscall.ENOTDIR, linux.ENOTDIR},
	{syscall.EISDIR, linux.EISDIR},
}

func hostErrno(err error) linux.Errno {
	for _, m := range windowsErrnos {
		if errors.Is(err, m.win) {
			return m.linux
		}
	}
	return 0
}
