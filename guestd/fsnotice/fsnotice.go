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
	"sync/atomic"

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

// workers is how many paths are looked at and touched at once: each is a
// round trip to the host's file server, which answers several at a time.
const workers = 8

// verdict is what the first pass found of a change.
type verdict uint8

const (
	skip      verdict = iota // refused, gone, changed again
	goneChild                // gone on the host: its directory is raised
	ownFile                  // a file the guest wrote itself
	raise                    // a file or symlink to raise
	raiseDir                 // a directory to raise
)

// Apply raises each change of the batch and counts what it did. It stops
// when ctx ends (the host gave up on the request): touches made after the
// host stopped waiting would come back to it later than it remembers them.
//
// Each path is looked at afresh on the host (not in the guest's cache) and
// touched right after: a path the host changed again since it sent the
// batch keeps its newer time (the next batch carries it), and a file the
// guest wrote itself is an echo. Files go first; a directory whose
// children in the batch were all the guest's own is an echo too, and is
// left.
func (a *Applier) Apply(ctx context.Context, ev protocol.FSEvents) protocol.FSEventsApplied {
	touch := a.touch
	if touch == nil {
		touch = setMtime
	}
	var touched atomic.Int64
	doTouch := func(c protocol.FSChange) {
		if err := touch(c.Path, c.MtimeNanos); err != nil {
			switch {
			case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
				// Gone again since the host looked: its next batch says so.
			case errors.Is(err, unix.EROFS):
				a.warn("rofs", "changes in a read-only shared folder cannot be raised in the guest", "path", c.Path)
			default:
				a.warn("touch:"+err.Error(), "could not raise a change in the guest", "path", c.Path, "err", err)
			}
			return
		}
		touched.Add(1)
	}
	verdicts := make([]verdict, len(ev.Changes))
	parallel(ctx, len(ev.Changes), func(i int) {
		v := a.look(ev.Changes[i])
		verdicts[i] = v
		if v == raise {
			doTouch(ev.Changes[i])
		}
	})
	own, other := map[string]int{}, map[string]int{}
	var dirs []int
	for i, v := range verdicts {
		switch v {
		case ownFile:
			own[path.Dir(ev.Changes[i].Path)]++
		case goneChild, raise:
			other[path.Dir(ev.Changes[i].Path)]++
		case raiseDir:
			dirs = append(dirs, i)
		}
	}
	parallel(ctx, len(dirs), func(j int) {
		c := ev.Changes[dirs[j]]
		if own[c.Path] > 0 && other[c.Path] == 0 {
			return
		}
		if a.look(c) == raiseDir { // again: it may have changed meanwhile
			doTouch(c)
		}
	})
	n := int(touched.Load())
	return protocol.FSEventsApplied{Touched: n, Skipped: len(ev.Changes) - n}
}

// look is what to do with one change, by the host's attributes now.
func (a *Applier) look(c protocol.FSChange) verdict {
	if !a.within(c.Path) {
		a.warn("outside", "a change outside the shared folders was refused", "path", c.Path)
		return skip
	}
	if c.Gone || c.MtimeNanos <= 0 {
		// The lookup lets the guest's kernel drop its entry for the path
		// now, rather than when its cache times out.
		var st unix.Stat_t
		_ = unix.Lstat(c.Path, &st)
		return goneChild
	}
	var st unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, c.Path, unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_FORCE_SYNC, unix.STATX_MTIME|unix.STATX_INO|unix.STATX_TYPE, &st)
	switch {
	case err != nil:
		return skip
	case a.Own != nil && st.Mode&unix.S_IFMT == unix.S_IFREG && a.Own(st.Ino):
		// Whatever its time: the host may have looked between the
		// guest's create and its write.
		return ownFile
	case st.Mtime.Sec*1e9+int64(st.Mtime.Nsec) != c.MtimeNanos:
		return skip
	case st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return raiseDir
	}
	return raise
}

// parallel calls f for 0..n-1 on a few goroutines, and no more once ctx
// ends.
func parallel(ctx context.Context, n int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
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
