package p9share

import (
	"os"
	"time"

	"github.com/hugelgupf/p9/p9"
)

// info is what the server tells of a file, from one stat of it.
type info struct {
	mode     os.FileMode
	dev, ino uint64 // the file's identity: device (volume) and inode (file index)
	nlink    uint64
	uid, gid uint32
	rdev     uint64
	size     uint64
	blocks   uint64 // 512-byte blocks
	atime    time.Time
	mtime    time.Time
	ctime    time.Time
	btime    time.Time // zero where the OS does not keep it
}

// qid is the file's 9P identity. Its Path is the file's own identity on
// the host (inode, or NTFS file index): it survives renames and is shared
// by hard links, as the guest's inode cache expects, and needs no table.
// A file on another device than the share's root (a mount inside the
// share on Unix) gets a mix of device and inode, so two devices' inodes
// do not meet. Version changes with the content, as QEMU's.
func (t *tree) qid(in info) p9.QID {
	path := in.ino
	if in.dev != t.dev {
		path = mix(in.dev, in.ino)
	}
	return p9.QID{
		Type:    p9.ModeFromOS(in.mode).QIDType(),
		Version: uint32(in.mtime.Unix()) ^ uint32(in.size<<8),
		Path:    path,
	}
}

// mix folds device and inode into 64 bits (splitmix64's finalizer).
func mix(dev, ino uint64) uint64 {
	z := dev*0x9e3779b97f4a7c15 ^ ino
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// attr is in as 9P2000.L attributes, and which of them are set.
func attr(in info) (p9.AttrMask, p9.Attr) {
	mask := p9.AttrMask{Mode: true, NLink: true, UID: true, GID: true, RDev: true,
		ATime: true, MTime: true, CTime: true, INo: true, Size: true, Blocks: true}
	a := p9.Attr{
		Mode:      p9.ModeFromOS(in.mode),
		UID:       p9.UID(in.uid),
		GID:       p9.GID(in.gid),
		NLink:     p9.NLink(in.nlink),
		RDev:      p9.Dev(in.rdev),
		Size:      in.size,
		BlockSize: 4096,
		Blocks:    in.blocks,
	}
	a.ATimeSeconds, a.ATimeNanoSeconds = unixTime(in.atime)
	a.MTimeSeconds, a.MTimeNanoSeconds = unixTime(in.mtime)
	a.CTimeSeconds, a.CTimeNanoSeconds = unixTime(in.ctime)
	if !in.btime.IsZero() {
		mask.BTime = true
		a.BTimeSeconds, a.BTimeNanoSeconds = unixTime(in.btime)
	}
	return mask, a
}

func unixTime(t time.Time) (sec, nsec uint64) {
	return uint64(t.Unix()), uint64(t.Nanosecond())
}
