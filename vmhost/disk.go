package vmhost

import (
	"errors"
	"fmt"
	"os"
)

// EnsureDisk creates a sparse raw disk image of size bytes, or grows an
// existing one to size. It never shrinks a disk: that would cut off data.
// It reports whether the image was created or grown.
func EnsureDisk(path string, size int64) (created, grown bool, err error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return false, false, fmt.Errorf("create data disk: %w", err)
		}
		defer f.Close()
		if err := f.Truncate(size); err != nil {
			os.Remove(path)
			return false, false, fmt.Errorf("create data disk %s: %w", path, err)
		}
		return true, false, nil
	case err != nil:
		return false, false, fmt.Errorf("data disk: %w", err)
	case fi.Size() > size:
		return false, false, fmt.Errorf("data disk %s is %s; it cannot shrink to %s (choose at least its current size)", path, GiB(fi.Size()), GiB(size))
	case fi.Size() == size:
		return false, false, nil
	}
	// Growing only appends zeros; guestd grows the filesystem at next boot.
	if err := os.Truncate(path, size); err != nil {
		return false, false, fmt.Errorf("grow data disk %s: %w", path, err)
	}
	return false, true, nil
}

// GiB formats a byte count for messages.
func GiB(n int64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }
