package vmhost

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/berthvm/berth/internal/bytesize"
)

// DiskFile makes and grows disk images of one format.
type DiskFile interface {
	// Size is the disk's virtual size; an error wrapping fs.ErrNotExist
	// when there is no disk.
	Size(path string) (int64, error)
	Create(path string, size int64) error
	Grow(path string, size int64) error
}

// DiskFileOf is the disk format b's machines use.
func DiskFileOf(b Backend) DiskFile {
	if f, ok := b.(DiskFormatter); ok {
		return f.DiskFile()
	}
	return RawDisk{}
}

// EnsureDisk creates a disk image of size bytes, or grows an existing one
// to size. It never shrinks a disk: that would cut off data. It reports
// whether the image was created or grown.
func EnsureDisk(f DiskFile, path string, size int64) (created, grown bool, err error) {
	cur, err := f.Size(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := f.Create(path, size); err != nil {
			return false, false, fmt.Errorf("create data disk %s: %w", path, err)
		}
		return true, false, nil
	case err != nil:
		return false, false, fmt.Errorf("data disk: %w", err)
	case cur > size:
		return false, false, fmt.Errorf("data disk %s is %s; it cannot shrink to %s (choose at least its current size)", path, bytesize.Binary(uint64(cur)), bytesize.Binary(uint64(size)))
	case cur == size:
		return false, false, nil
	}
	// Growing only adds zeroed space; guestd grows the filesystem at next
	// boot.
	if err := f.Grow(path, size); err != nil {
		return false, false, fmt.Errorf("grow data disk %s: %w", path, err)
	}
	return false, true, nil
}

// RawDisk is a sparse raw image: what QEMU and vz take.
type RawDisk struct{}

// Size is the image file's size.
func (RawDisk) Size(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Create makes a sparse image of size bytes.
func (RawDisk) Create(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// Grow extends the image to size bytes; the new part reads as zeros.
func (RawDisk) Grow(path string, size int64) error { return os.Truncate(path, size) }
