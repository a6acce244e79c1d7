package vhdx

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// openShared opens path for reading while letting others read, write and
// delete it: what a running VM's worker holds must not be disturbed. A
// holder that shares no reads (CreateFile's dwShareMode, "Creating and
// Opening Files", learn.microsoft.com) still refuses it, with
// ERROR_SHARING_VIOLATION: that is ErrInUse.
func openShared(path string) (*os.File, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, err
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if errors.Is(err, windows.ERROR_SHARING_VIOLATION) {
		return nil, fmt.Errorf("%s: %w", path, ErrInUse)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(h), path), nil
}
