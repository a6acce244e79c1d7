package p9share

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/windows"
)

// lstatAt stats rel in root without following a final link: it opens the
// entry itself (FILE_FLAG_OPEN_REPARSE_POINT, as os.Lstat does), asks
// that handle for the file index, and closes it before returning, so a
// walk leaves nothing open that would stop the host renaming the folder.
func lstatAt(root *os.Root, rel string) (info, error) {
	f, err := root.OpenFile(rel, os.O_RDONLY|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return info{}, err
	}
	defer f.Close()
	return statOpen(f)
}

// statOpen stats an open file by its handle. The identity is the NTFS
// file index from GetFileInformationByHandle on the handle already held:
// stable across renames, one for all of a file's hard links.
func statOpen(f *os.File) (info, error) {
	fi, err := f.Stat()
	if err != nil {
		return info{}, err
	}
	var d windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(windows.Handle(f.Fd()), &d); err != nil {
		return info{}, fmt.Errorf("file information of %s: %w", f.Name(), err)
	}
	size := uint64(d.FileSizeHigh)<<32 | uint64(d.FileSizeLow)
	ft := func(t windows.Filetime) time.Time { return time.Unix(0, t.Nanoseconds()) }
	return info{
		mode:   fi.Mode(),
		dev:    uint64(d.VolumeSerialNumber),
		ino:    uint64(d.FileIndexHigh)<<32 | uint64(d.FileIndexLow),
		nlink:  uint64(d.NumberOfLinks),
		size:   size,
		blocks: (size + 511) / 512,
		atime:  ft(d.LastAccessTime),
		mtime:  ft(d.LastWriteTime),
		// Windows keeps no change time apart from the write time here.
		ctime: ft(d.LastWriteTime),
		btime: ft(d.CreationTime),
	}, nil
}
