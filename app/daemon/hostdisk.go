package daemon

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/berthvm/berth/internal/bytesize"
	"github.com/berthvm/berth/vmhost"
)

// A VM that the hypervisor paused because the data disk's host filesystem
// is full stays paused, with nothing lost, until there is room again: then
// it resumes by itself. Destroying it would throw away what the guest had
// written but not yet flushed.
const (
	// resumeFree is the room the host filesystem needs before the VM
	// resumes; less would pause it again at once.
	resumeFree = 128 << 20
	// hostDiskPoll is how often a held VM's host filesystem is checked.
	hostDiskPoll = 2 * time.Second
)

// holdPaused handles a VM that paused by itself: when the backend says it
// paused on a disk write error (a full host disk), the VM is held paused
// and resumed once the host filesystem has room, and holdPaused returns
// true. Any other pause is the caller's to treat as the VM gone.
func (d *Daemon) holdPaused(run *session) bool {
	r, ok := d.o.Backend.(vmhost.Resumer)
	if !ok {
		return false
	}
	name := d.o.Paths.VMName()
	if io, err := r.PausedOnIOError(run.ctx, name); err != nil || !io {
		if err != nil {
			d.o.Log.Warn("why did the VM pause?", "err", err)
		}
		return false
	}
	d.mu.Lock()
	waiting := run.held != ""
	run.held = hostDiskFull(d.dataDiskFile(), 0)
	d.mu.Unlock()
	if !waiting {
		run.goRun(func() { d.resumeWhenRoom(run, r) })
	}
	return true
}

// resumeWhenRoom waits for the data disk's host filesystem to have
// resumeFree bytes free, then resumes the VM.
func (d *Daemon) resumeWhenRoom(run *session, r vmhost.Resumer) {
	path := d.dataDiskFile()
	logged := false
	t := time.NewTicker(hostDiskPoll)
	defer t.Stop()
	for {
		free, err := diskFree(path)
		if err != nil {
			d.o.Log.Warn("free space on the data disk's filesystem", "path", path, "err", err)
		}
		msg := hostDiskFull(path, free)
		if !logged {
			logged = true
			d.o.Log.Error(msg, "path", path, "free", free)
		}
		d.mu.Lock()
		if err == nil && free >= resumeFree {
			// Cleared before resuming: a VM that pauses again at once
			// gets a new wait.
			run.held = ""
		} else {
			run.held = msg
		}
		held := run.held
		d.mu.Unlock()
		if held == "" {
			if err := r.Resume(run.ctx, d.o.Paths.VMName()); err != nil {
				d.o.Log.Error("could not resume the VM after the host disk had room again", "err", err)
				d.vmGone(run, vmhost.Paused)
				return
			}
			d.o.Log.Info("the host disk has room again; the VM resumed", "path", path, "free", bytesize.Binary(free))
			return
		}
		select {
		case <-run.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// dataDiskFile is the data disk's image file, symbolic links resolved: its
// filesystem is the one that fills.
func (d *Daemon) dataDiskFile() string {
	p := d.o.Paths.DataDisk()
	if resolved, err := filepath.EvalSymlinks(p); err == nil {
		return resolved
	}
	return p
}

// hostDiskFull says that the VM is paused because path's filesystem is full.
func hostDiskFull(path string, free uint64) string {
	return fmt.Sprintf("host disk full: %s, %s free; the VM is paused with nothing lost and resumes by itself once %s are free there",
		path, bytesize.Binary(free), bytesize.Binary(resumeFree))
}
