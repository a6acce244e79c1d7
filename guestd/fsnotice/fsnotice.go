//go:build linux

// Package fsnotice makes changes the host saw in its shared folders visible
// to inotify watchers in the guest. virtiofs and 9p carry no change
// notifications: a file the host writes changes under the guest's feet
// without an event. For each changed path the host sends its modification
// time, and the guest sets that same time on its own path with utimensat,
// the access time left alone (UTIME_OMIT). The kernel reports a change of
// the modification time alone as IN_MODIFY (a change of both as IN_ATTRIB,
// which some watchers ignore), and the filesystem's client asks the host
// for the path's attributes again, so its caches see the change too.
// Nothing changes on the host: the time set is the one it has.
package fsnotice

import (
	"context"
	"errors"
	"log/slog"
	"path"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/berthvm/berth/guestd/protocol"
)

// MaxChanges is the most changes one batch may carry; the host collapses
// more into coarse changes of their directories.
const MaxChanges = 20000

// Applier raises the host's changes in the guest.
type Applier struct {
	// Roots are the shared folders' mount points: changes outside them
	// are refused.
	Roots []string
	// Own, when set, says whether the guest itself changed the file with
	// this inode lately (an echo of a guest write the host saw through the
	// share): its watchers have had their event, and it is not raised
	// again.
	Own func(ino uint64) bool
	Log *slog.Logger

	// touch is utimensat; replaceable in tests.
	touch func(path string, mtimeNanos int64) error

	warnOnce sync.Map // error kinds already logged, so a batch cannot flood the log
}

// Apply raises each change of the batch and counts what it did. It stops
// when ctx ends (the host gave up on the request): touches made after the
// host stopped waiting would come back to it later than it remembers them.
func (a *Applier) Apply(ctx context.Context, ev protocol.FSEvents) protocol.FSEventsApplied {
	var r protocol.FSEventsApplied
	touch := a.touch
	if touch == nil {
		touch = setMtime
	}
	// First the host's attributes of every path now, not the guest's
	// cache: a path the host changed again since it sent the batch keeps
	// its newer time (the next batch carries it), and a file the guest
	// wrote itself is an echo. A directory whose children in the batch are
	// all such echoes is one too: the guest made them there.
	type look struct {
		c    protocol.FSChange
		skip bool
	}
	looks := make([]look, 0, len(ev.Changes))
	own, other := map[string]int{}, map[string]int{}
	for _, c := range ev.Changes {
		if ctx.Err() != nil {
			r.Skipped += len(ev.Changes) - len(looks)
			break
		}
		l := look{c: c, skip: true}
		switch {
		case !a.within(c.Path):
			a.warn("outside", "a change outside the shared folders was refused", "path", c.Path)
		case c.Gone || c.MtimeNanos <= 0:
			// The lookup lets the guest's kernel drop its entry for the
			// path now, rather than when its cache times out.
			var st unix.Stat_t
			_ = unix.Lstat(c.Path, &st)
			other[path.Dir(c.Path)]++
		default:
			var st unix.Statx_t
			err := unix.Statx(unix.AT_FDCWD, c.Path, unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_FORCE_SYNC, unix.STATX_MTIME|unix.STATX_INO|unix.STATX_TYPE, &st)
			switch {
			case err != nil:
				// Gone again since the host looked: its next batch says so.
			case st.Mtime.Sec*1e9+int64(st.Mtime.Nsec) != c.MtimeNanos:
			case a.Own != nil && st.Mode&unix.S_IFMT == unix.S_IFREG && a.Own(st.Ino):
				own[path.Dir(c.Path)]++
			default:
				l.skip = false
				if st.Mode&unix.S_IFMT != unix.S_IFDIR {
					other[path.Dir(c.Path)]++
				}
			}
		}
		looks = append(looks, l)
	}
	for _, l := range looks {
		if ctx.Err() != nil {
			r.Skipped++
			continue
		}
		if l.skip || own[l.c.Path] > 0 && other[l.c.Path] == 0 {
			r.Skipped++
			continue
		}
		if err := touch(l.c.Path, l.c.MtimeNanos); err != nil {
			switch {
			case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
			case errors.Is(err, unix.EROFS):
				a.warn("rofs", "changes in a read-only shared folder cannot be raised in the guest", "path", l.c.Path)
			default:
				a.warn("touch:"+err.Error(), "could not raise a change in the guest", "path", l.c.Path, "err", err)
			}
			r.Skipped++
			continue
		}
		r.Touched++
	}
	return r
}

// within says whether p is a clean absolute path in one of the roots.
func (a *Applier) within(p string) bool {
	if !path.IsAbs(p) || path.Clean(p) != p {
		return false
	}
	for _, root := range a.Roots {
		if p == root || strings.HasPrefix(p, strings.TrimSuffix(root, "/")+"/") {
			return true
		}
	}
	return false
}

func (a *Applier) warn(kind, msg string, args ...any) {
	if _, seen := a.warnOnce.LoadOrStore(kind, true); seen || a.Log == nil {
		return
	}
	a.Log.Warn(msg+" (logged once)", args...)
}

// setMtime sets path's modification time (not following a final symlink)
// and leaves its access time.
func setMtime(p string, mtimeNanos int64) error {
	ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(mtimeNanos)}
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
}
