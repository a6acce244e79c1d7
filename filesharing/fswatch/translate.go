package fswatch

import (
	"path/filepath"
	"strings"
)

// This file turns macOS's and Windows's notifications into Events. It is
// plain Go, so that their documented behaviour is tested on any OS; the
// calls into each OS are in fsevents_darwin.go and rdcw_windows.go.

// Inside says whether rel (a path relative to the watched folder) lies in
// an excluded directory: macOS and Windows watch a whole tree with one
// stream, so exclusions filter events rather than watches.
func (o Options) Inside(rel string) bool {
	dir := filepath.Dir(rel)
	for dir != "." && dir != string(filepath.Separator) && dir != "" {
		if o.Excluded(dir) {
			return true
		}
		dir = filepath.Dir(dir)
	}
	return false
}

// FSEvents flags (CoreServices FSEvents.h, kFSEventStreamEventFlag…).
const (
	fseMustScanSubDirs   = 0x00000001
	fseUserDropped       = 0x00000002
	fseKernelDropped     = 0x00000004
	fseRootChanged       = 0x00000020
	fseUnmount           = 0x00000080
	fseItemCreated       = 0x00000100
	fseItemRemoved       = 0x00000200
	fseItemInodeMetaMod  = 0x00000400
	fseItemRenamed       = 0x00000800
	fseItemModified      = 0x00001000
	fseItemFinderInfoMod = 0x00002000
	fseItemChangeOwner   = 0x00004000
	fseItemXattrMod      = 0x00008000
)

// fromFSEvent turns one FSEvents event into ours. FSEvents coalesces: one
// event may carry Created, Modified and Removed at once (all that happened
// to the path within the stream's latency, not their order), so the ops
// are all kept and the path's state is looked at when the batch is sent.
// A rename comes as two events with ItemRenamed, the old path and the new,
// which is which told only by which exists. MustScanSubDirs (with
// UserDropped or KernelDropped when the queue overflowed) means events
// below the path were lost; RootChanged and Unmount that the watched
// folder itself went.
func fromFSEvent(root, p string, flags uint32, o Options) (Event, bool) {
	if flags&(fseRootChanged|fseUnmount) != 0 && filepath.Clean(p) == root {
		return Event{Path: root, Op: Remove}, true
	}
	if flags&(fseMustScanSubDirs|fseUserDropped|fseKernelDropped) != 0 {
		return Event{Path: p, Op: Rescan}, true
	}
	rel, err := filepath.Rel(root, p)
	if err != nil || strings.HasPrefix(rel, "..") || o.Inside(rel) {
		return Event{}, false
	}
	var op Op
	if flags&fseItemCreated != 0 {
		op |= Create
	}
	if flags&fseItemRemoved != 0 {
		op |= Remove
	}
	if flags&fseItemRenamed != 0 {
		op |= Rename
	}
	if flags&fseItemModified != 0 {
		op |= Write
	}
	if flags&(fseItemInodeMetaMod|fseItemFinderInfoMod|fseItemChangeOwner|fseItemXattrMod) != 0 {
		op |= Attrib
	}
	if op == 0 {
		return Event{}, false
	}
	return Event{Path: p, Op: op}, true
}

// ReadDirectoryChangesW's actions (FILE_ACTION_…).
const (
	rdcwAdded       = 1
	rdcwRemoved     = 2
	rdcwModified    = 3
	rdcwRenamedOld  = 4
	rdcwRenamedNew  = 5
	rdcwOverflowed  = 0 // our mark: the call returned no records, its buffer overflowed
	rdcwMaxNameRune = 32767
)

// rdcwRecord is one FILE_NOTIFY_INFORMATION: an action and a name relative
// to the watched folder, with Windows separators.
type rdcwRecord struct {
	Action uint32
	Name   string
}

// fromRDCW turns the records of one ReadDirectoryChangesW call into
// events. Windows reports a rename as a pair of records (old name, then
// new), a change of attributes or times as Modified (as it does a
// directory whose entries changed), and an overflow of its buffer as a
// call that returns no records (or ERROR_NOTIFY_ENUM_DIR): all under the
// folder may have changed.
func fromRDCW(root string, recs []rdcwRecord, o Options) []Event {
	if len(recs) == 0 {
		return []Event{{Path: root, Op: Rescan}}
	}
	var out []Event
	for _, r := range recs {
		if r.Name == "" || len(r.Name) > rdcwMaxNameRune {
			continue
		}
		rel := filepath.FromSlash(strings.ReplaceAll(r.Name, `\`, "/"))
		if o.Inside(rel) {
			continue
		}
		var op Op
		switch r.Action {
		case rdcwAdded:
			op = Create
		case rdcwRemoved:
			op = Remove
		case rdcwModified:
			op = Write
		case rdcwRenamedOld, rdcwRenamedNew:
			op = Rename
		default:
			continue
		}
		out = append(out, Event{Path: filepath.Join(root, rel), Op: op})
	}
	return out
}
