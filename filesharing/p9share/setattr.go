package p9share

import (
	"errors"
	"os"
	"runtime"
	"time"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"
)

// SetAttr implements p9.File.SetAttr: mode, owner, size and times. A
// change of owner that the host refuses is let pass, as QEMU's
// security_model=none does: the daemon runs as the user and cannot give
// files away, and a container's chown must not fail for it. The change
// time is the host's to keep.
func (f *file) SetAttr(valid p9.SetAttrMask, a p9.SetAttr) error {
	if f.s.readOnly {
		return f.s.fail("setattr", f.rel, linux.EROFS)
	}
	root := f.t.root
	if valid.Permissions {
		if err := root.Chmod(f.rel, osPerm(a.Permissions)); err != nil {
			return f.s.fail("chmod", f.rel, err)
		}
	}
	if (valid.UID || valid.GID) && runtime.GOOS != "windows" {
		uid, gid := -1, -1
		if valid.UID {
			uid = int(a.UID)
		}
		if valid.GID {
			gid = int(a.GID)
		}
		if err := root.Lchown(f.rel, uid, gid); err != nil {
			f.s.log.Debug("9P chown let pass", "share", f.s.path, "name", f.rel, "err", err)
		}
	}
	if valid.Size {
		if err := f.truncate(int64(a.Size)); err != nil {
			return f.s.fail("truncate", f.rel, err)
		}
	}
	if valid.ATime || valid.MTime {
		now := time.Now()
		var atime, mtime time.Time // zero: left as it is
		if valid.ATime {
			atime = setTime(now, valid.ATimeNotSystemTime, a.ATimeSeconds, a.ATimeNanoSeconds)
		}
		if valid.MTime {
			mtime = setTime(now, valid.MTimeNotSystemTime, a.MTimeSeconds, a.MTimeNanoSeconds)
		}
		if err := root.Chtimes(f.rel, atime, mtime); err != nil {
			return f.s.fail("utimes", f.rel, err)
		}
	}
	return nil
}

func setTime(now time.Time, given bool, sec, nsec uint64) time.Time {
	if !given {
		return now
	}
	return time.Unix(int64(sec), int64(nsec))
}

// truncate by the open handle if it writes, else by a handle for the
// purpose, closed at once.
func (f *file) truncate(size int64) error {
	if f.h != nil && f.writable {
		return f.h.Truncate(size)
	}
	in, err := lstatAt(f.t.root, f.rel)
	if err != nil {
		return err
	}
	if !in.mode.IsRegular() {
		if in.mode.IsDir() {
			return linux.EISDIR
		}
		return linux.EINVAL
	}
	h, err := f.t.root.OpenFile(f.rel, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	return errors.Join(h.Truncate(size), h.Close())
}
