// Package fswatch watches a shared folder on the host and hands over
// coalesced batches of what changed in it, so that the guest can raise
// the changes for its own watchers (virtiofs and 9p carry no change
// notifications). Each OS's notification is a Source behind one
// interface: inotify on Linux, FSEvents on macOS, ReadDirectoryChangesW
// on Windows. What is common to them is here: exclusions, coalescing,
// bounds, and the memory of what Berth itself touched (echo suppression).
package fswatch

import (
	"path"
	"path/filepath"
	"strings"
)

// Op says what happened to a path; a coalesced path has several.
type Op uint8

// The kinds of change.
const (
	Write  Op = 1 << iota // content changed
	Attrib                // metadata only (mode, owner, times)
	Create                // the entry appeared
	Remove                // the entry went
	Rename                // the entry was renamed, from or to this path
	// Rescan says events under this directory were lost (the OS's queue
	// overflowed, or the folder went and came back): all of it may have
	// changed.
	Rescan
)

// Entry says the entry itself, not only its content, came or went: its
// directory changed too.
func (o Op) Entry() bool { return o&(Create|Remove|Rename) != 0 }

// Event is one change a Source saw, at a host path.
type Event struct {
	Path string
	Op   Op
}

// Source is one OS's change notification for a folder and all below it.
type Source interface {
	// Events delivers changes until Close; it is closed then.
	Events() <-chan Event
	Close() error
}

// Options bound a Source.
type Options struct {
	// Exclude names directories whose contents are not watched, as
	// slash-separated patterns matched against the trailing components of
	// a directory's path (path.Match per component): "node_modules" is
	// every directory of that name, ".git/objects" every objects directory
	// in a .git. The directory itself coming or going is still seen.
	Exclude []string
	// MaxWatches caps the directories watched where the OS needs one
	// watch per directory (inotify); 0 is DefaultMaxWatches.
	MaxWatches int
}

// DefaultExclude are the directories not watched unless the settings say
// otherwise: large, machine-written, and read by tools that know when
// they change (git's object store, npm's installed packages).
var DefaultExclude = []string{".git/objects", "node_modules"}

// DefaultMaxWatches bounds a watched tree's inotify watches (each costs
// about 1 KiB of kernel memory, and a map entry here).
const DefaultMaxWatches = 100000

// Excluded says whether the directory at rel (relative to the watched
// folder, with the OS's separators) matches an exclusion.
func (o Options) Excluded(rel string) bool {
	parts := strings.Split(filepath.ToSlash(rel), "/")
	for _, pat := range o.Exclude {
		pp := strings.Split(strings.Trim(pat, "/"), "/")
		if len(pp) > len(parts) {
			continue
		}
		tail := parts[len(parts)-len(pp):]
		match := true
		for i := range pp {
			if ok, err := path.Match(pp[i], tail[i]); err != nil || !ok {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}
