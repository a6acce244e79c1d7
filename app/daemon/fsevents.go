package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/berthvm/berth/filesharing"
	"github.com/berthvm/berth/filesharing/fswatch"
	"github.com/berthvm/berth/guestd/protocol"
)

// startFSEvents watches each writable shared folder on the host and hands
// the guest what changed in it, so that watchers in containers (dev
// servers, test runners, rebuilders) see the host's edits: virtiofs and 9p
// carry no change notifications. A read-only folder is left out: the guest
// cannot raise a change on a read-only mount. One memory of what was sent
// serves all folders, so that the guest's touches coming back through the
// share are not sent again.
func (d *Daemon) startFSEvents(ctx context.Context, run *session, shares []filesharing.Share, exclude []string) {
	echoes := fswatch.NewEchoes(0)
	// Berth's own files change all the time (the data disk QEMU writes, the
	// logs) and are no container's business; passed on, the guest would
	// look them up through the share and virtiofsd would hold them open,
	// keeping a deleted file's space from a host disk Berth waits to free.
	own := []string{d.o.Paths.Data, d.o.Paths.Config, d.o.Paths.Run, filepath.Dir(d.dataDiskFile())}
	for _, sh := range shares {
		if sh.ReadOnly {
			continue
		}
		exclude := append(slices.Clone(exclude), within(sh.HostPath, own)...)
		log := d.o.Log.With("part", "fsevents")
		run.goRun(func() {
			// The first walk of a large folder takes a while: off the boot.
			src, err := fswatch.Watch(sh.HostPath, fswatch.Options{Exclude: exclude}, log)
			if err != nil {
				log.Warn("changes in a shared folder are not passed to the guest", "folder", sh.HostPath, "err", err)
				return
			}
			defer src.Close() //nolint:errcheck // closing a watch fails only if it is closed already
			f := &fswatch.Forwarder{Root: sh.HostPath, Source: src, Echoes: echoes, Log: log}
			f.Run(ctx, func(ctx context.Context, batch []fswatch.Change) error {
				return sendFSEvents(ctx, run.guest, runtime.GOOS, batch, log)
			})
			c := &f.Counts
			log.Info("file events of a shared folder", "folder", sh.HostPath, "events", c.Events.Load(), "batches", c.Batches.Load(),
				"sent", c.Sent.Load(), "echoes_dropped", c.Echoes.Load(), "coarse", c.Coarse.Load(), "failed_batches", c.Failed.Load())
		})
	}
}

// within gives the dirs inside root as exclusion patterns relative to it.
func within(root string, dirs []string) []string {
	var pats []string
	for _, dir := range dirs {
		rel, err := filepath.Rel(root, dir)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			continue
		}
		pats = append(pats, filepath.ToSlash(rel))
	}
	return pats
}

// sendFSEvents hands one batch to the guest at the guest's paths.
func sendFSEvents(ctx context.Context, guest *protocol.Client, goos string, batch []fswatch.Change, log *slog.Logger) error {
	ev, err := guestChanges(goos, batch)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	a, err := guest.FSEvents(ctx, ev)
	if err != nil {
		return err
	}
	log.Debug("file events raised in the guest", "changes", len(ev.Changes), "touched", a.Touched, "skipped", a.Skipped, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// guestChanges turns host paths into the guest's.
func guestChanges(goos string, batch []fswatch.Change) (protocol.FSEvents, error) {
	ev := protocol.FSEvents{Changes: make([]protocol.FSChange, 0, len(batch))}
	for _, c := range batch {
		p, err := filesharing.GuestPath(goos, c.Path)
		if err != nil {
			return ev, fmt.Errorf("file event at %s: %w", c.Path, err)
		}
		ev.Changes = append(ev.Changes, protocol.FSChange{Path: p, MtimeNanos: c.Mtime, Gone: c.Gone})
	}
	return ev, nil
}
