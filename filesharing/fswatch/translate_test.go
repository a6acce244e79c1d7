package fswatch

import (
	"path/filepath"
	"reflect"
	"testing"
)

func TestExcluded(t *testing.T) {
	o := Options{Exclude: DefaultExclude}
	for rel, want := range map[string]bool{
		"node_modules": true, "a/b/node_modules": true, ".git/objects": true, "x/.git/objects": true,
		".git": false, ".git/refs": false, "objects": false, "src": false, "node_modules2": false,
	} {
		if got := o.Excluded(filepath.FromSlash(rel)); got != want {
			t.Errorf("Excluded(%s) = %v", rel, got)
		}
	}
	for rel, want := range map[string]bool{
		"node_modules/x/y.js": true, "node_modules": false, ".git/objects/ab/cd": true, "src/a.go": false,
	} {
		if got := o.Inside(filepath.FromSlash(rel)); got != want {
			t.Errorf("Inside(%s) = %v", rel, got)
		}
	}
}

// FSEvents' documented behaviour: coalesced flags on one event, renames as
// two events, dropped events as a scan of a directory, the root going.
func TestFromFSEvent(t *testing.T) {
	root := filepath.FromSlash("/Users/me/proj")
	o := Options{Exclude: DefaultExclude}
	p := func(rel string) string { return filepath.Join(root, filepath.FromSlash(rel)) }
	cases := []struct {
		path  string
		flags uint32
		want  Event
		ok    bool
	}{
		// created, written and removed within one latency: all three kept;
		// the path's state is looked at when the batch goes.
		{p("a.go"), fseItemCreated | fseItemModified | fseItemRemoved | 0x10000, Event{p("a.go"), Create | Write | Remove}, true},
		{p("old"), fseItemRenamed, Event{p("old"), Rename}, true},
		{p("new"), fseItemRenamed, Event{p("new"), Rename}, true},
		{p("b"), fseItemChangeOwner | fseItemXattrMod, Event{p("b"), Attrib}, true},
		{p("src"), fseMustScanSubDirs | fseKernelDropped, Event{p("src"), Rescan}, true},
		{root, fseRootChanged, Event{root, Remove}, true},
		{p("node_modules/x/index.js"), fseItemModified, Event{}, false},
		{p("c"), 0, Event{}, false},
	}
	for _, c := range cases {
		got, ok := fromFSEvent(root, c.path, c.flags, o)
		if ok != c.ok || got != c.want {
			t.Errorf("%s %#x: %+v %v, want %+v %v", c.path, c.flags, got, ok, c.want, c.ok)
		}
	}
}

// ReadDirectoryChangesW's: renames as pairs of records, Modified for
// attributes, an empty return for an overflow, backslashes in names.
func TestFromRDCW(t *testing.T) {
	root := filepath.FromSlash("/mnt/c/Users/me")
	o := Options{Exclude: DefaultExclude}
	p := func(rel string) string { return filepath.Join(root, filepath.FromSlash(rel)) }
	got := fromRDCW(root, []rdcwRecord{
		{rdcwAdded, `src\a.go`}, {rdcwModified, `src\a.go`}, {rdcwRenamedOld, `src\a.go`}, {rdcwRenamedNew, `src\b.go`},
		{rdcwRemoved, `old`}, {rdcwModified, `node_modules\x\y.js`}, {99, `weird`},
	}, o)
	want := []Event{{p("src/a.go"), Create}, {p("src/a.go"), Write}, {p("src/a.go"), Rename}, {p("src/b.go"), Rename}, {p("old"), Remove}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if got := fromRDCW(root, nil, o); !reflect.DeepEqual(got, []Event{{root, Rescan}}) {
		t.Errorf("overflow: %+v", got)
	}
}
