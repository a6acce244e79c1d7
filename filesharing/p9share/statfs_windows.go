package p9share

import (
	"os"

	"github.com/hugelgupf/p9/p9"
	"golang.org/x/sys/windows"
)

const v9fsMagic = 0x01021997

// statFS asks the volume of the share's folder. The path is the
// configured folder itself, never anything the guest sent.
func statFS(path string, _ *os.Root) (p9.FSStat, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return p9.FSStat{}, err
	}
	var avail, total, free uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &total, &free); err != nil {
		return p9.FSStat{}, err
	}
	const bs = 4096
	return p9.FSStat{
		Type:            v9fsMagic,
		BlockSize:       bs,
		Blocks:          total / bs,
		BlocksFree:      free / bs,
		BlocksAvailable: avail / bs,
		NameLength:      maxNameUTF16,
	}, nil
}
