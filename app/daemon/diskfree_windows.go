package daemon

import (
	"fmt"
	"path/filepath"

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
