package daemon

import (
	"fmt"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"
)

// diskFree is the room left to this user on path's volume.
func diskFree(path string) (uint64, error) {
	p, err := windows.UTF16PtrFromString(filepath.Dir(path))
	if err != nil {
		return 0, err
	}
	var free uint64
	if err := windows.GetDiskFreeSpaceEx(p, &free, nil, nil); err != nil {
		return 0, fmt.Errorf("free space of %s: %w", path, err)
	}
	return free, nil
}

var getCompressedFileSize = windows.NewLazySystemDLL("kernel32.dll").NewProc("GetCompressedFileSizeW")

// diskAllocated is what the file at path takes on its volume:
// GetCompressedFileSizeW counts a sparse or compressed file's allocated
// clusters, where its length counts every byte.
func diskAllocated(path string) (uint64, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return 0, err
	}
	var high uint32
	low, _, callErr := getCompressedFileSize.Call(uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(&high)))
	// INVALID_FILE_SIZE is also a valid low half: only GetLastError tells.
	if uint32(low) == 0xFFFFFFFF && callErr != windows.ERROR_SUCCESS {
		return 0, fmt.Errorf("allocated size of %s: %w", path, callErr)
	}
	return uint64(high)<<32 | uint64(uint32(low)), nil
}
