package fswatch

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// Change is a path to report, as the host has it when the batch is sent.
type Change struct {
	Path  string // host path
	Mtime int64  // Unix nanoseconds; 0 when Gone
	Gone  bool
}

// Batching bounds what is sent and how often.
type Batching struct {
	// Window is how long after a batch's first event it is sent: events
	// of one save or one checkout go together (0: 100 ms).
	Window time.Duration
	// MaxPaths caps the paths of a batch: beyond it, further changes
	// become one coarse change of their directory (0: 1000). The guest
	// asks the host twice for each path (its attributes, then the touch):
	// on an emulated, busy machine 5,000 took longer than the request's
	// 30 s.
	MaxPaths int
	// MaxDirs caps the coarse directories: beyond it, the batch is one
	// coarse change of the whole folder (0: 100).
	MaxDirs int
}

func (b Batching) withDefaults() Batching {
	if b.Window == 0 {
		b.Window = 100 * time.Millisecond
	}
	if b.MaxPaths == 0 {
		b.MaxPaths = 1000
	}
	if b.MaxDirs == 0 {
		b.MaxDirs = 100
	}
	return b
}

// Counts are what a Forwarder did, for logs and tests.
type Counts struct {
	Events  atomic.Int64 // events the source delivered
	Batches atomic.Int64 // batches sent
	Sent    atomic.Int64 // changes sent
	Echoes  atomic.Int64 // events dropped as Berth's own touches
	Coarse  atomic.Int64 // changes collapsed into their directory or the folder
	Failed  atomic.Int64 // batches the guest did not take
}

// Forwarder turns a Source's events into batches of changes.
type Forwarder struct {
	Root    string // the watched folder
	Source  Source
	Echoes  *Echoes
	Batch   Batching
	Log     *slog.Logger
	Counts  Counts
	sendErr bool // the last send failed (logged once until one succeeds)
}

// Run sends batches until ctx ends or the source closes. send gets each
// batch; a batch it fails is dropped (the guest may be restarting): file
// events are notices, and a later change is sent again.
func (f *Forwarder) Run(ctx context.Context, send func(context.Context, []Change) error) {
	b := f.Batch.withDefaults()
	pending := map[string]Op{}
	coarse := map[string]bool{}
	whole := false
	var timer <-chan time.Time
	add := func(ev Event) {
		f.Counts.Events.Add(1)
		switch {
		case whole:
			f.Counts.Coarse.Add(1)
			return
		case ev.Op&Rescan != 0:
			coarse[ev.Path] = true
		case len(pending) < b.MaxPaths:
			pending[ev.Path] |= ev.Op
			return
		default:
			f.Counts.Coarse.Add(1)
			coarse[f.parent(ev.Path)] = true
		}
		if len(coarse) > b.MaxDirs {
			whole = true
			clear(coarse)
			coarse[f.Root] = true
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-f.Source.Events():
			if !ok {
				return
			}
			add(ev)
			if timer == nil {
				timer = time.After(b.Window)
			}
		case <-timer:
			// Take what else is queued already: it belongs to this batch.
		drain:
			for {
				select {
				case ev, ok := <-f.Source.Events():
					if !ok {
						break drain
					}
					add(ev)
				default:
					break drain
				}
			}
			f.flush(ctx, pending, coarse, send)
			pending, coarse, whole, timer = map[string]Op{}, map[string]bool{}, false, nil
		}
	}
}

// parent is p's directory, or the root for the root itself.
func (f *Forwarder) parent(p string) string {
	if p == f.Root {
		return p
	}
	return filepath.Dir(p)
}

// flush looks at each path as the host has it now and sends the batch.
// An entry that came or went brings its directory along, so that a
// watcher of the directory hears of it; a change of a path Berth itself
// touched, to the mtime it set, is its echo and is dropped.
func (f *Forwarder) flush(ctx context.Context, pending map[string]Op, coarse map[string]bool, send func(context.Context, []Change) error) {
	now := time.Now()
	f.Echoes.Expire(now)
	out := map[string]Change{}
	look := func(p string, op Op) {
		if _, done := out[p]; done || !f.within(p) {
			return
		}
		fi, err := os.Lstat(p)
		if err != nil {
			out[p] = Change{Path: p, Gone: true}
			return
		}
		m := fi.ModTime().UnixNano()
		if op&^(Write|Attrib) == 0 && f.Echoes.Echo(p, m, now) {
			f.Counts.Echoes.Add(1)
			return
		}
		out[p] = Change{Path: p, Mtime: m}
	}
	for p, op := range pending {
		if coarse[f.parent(p)] && !op.Entry() {
			continue // its directory goes as a whole
		}
		look(p, op)
		if op.Entry() && p != f.Root {
			look(filepath.Dir(p), Rescan)
		}
	}
	for d := range coarse {
		look(d, Rescan)
	}
	if len(out) == 0 {
		return
	}
	batch := make([]Change, 0, len(out))
	for _, c := range out {
		batch = append(batch, c)
		if !c.Gone {
			// Before the send: the echo may come back before it returns.
			f.Echoes.Touched(c.Path, c.Mtime, now)
		}
	}
	sort.Slice(batch, func(i, j int) bool { return batch[i].Path < batch[j].Path })
	err := send(ctx, batch)
	// The guest touches the whole batch before it answers, which takes long
	// for a big one on a slow machine: the echoes' time counts from then.
	done := time.Now()
	for _, c := range batch {
		if !c.Gone {
			f.Echoes.Touched(c.Path, c.Mtime, done)
		}
	}
	if err != nil {
		f.Counts.Failed.Add(1)
		if !f.sendErr && ctx.Err() == nil {
			f.Log.Warn("the guest did not take file events: dropped until it does (logged once)", "folder", f.Root, "changes", len(batch), "err", err)
		}
		f.sendErr = true
		return
	}
	if f.sendErr {
		f.Log.Info("the guest takes file events again", "folder", f.Root)
	}
	f.sendErr = false
	f.Counts.Batches.Add(1)
	f.Counts.Sent.Add(int64(len(batch)))
}

func (f *Forwarder) within(p string) bool {
	return p == f.Root || strings.HasPrefix(p, strings.TrimSuffix(f.Root, string(filepath.Separator))+string(filepath.Separator))
}
