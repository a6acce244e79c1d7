package diskuse

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/moby/moby/client"

	"github.com/berthvm/berth/internal/bytesize"
)

// Freed is what one prune removed.
type Freed struct {
	Kind  Kind   `json:"kind"`
	Count int    `json:"count"`
	Bytes uint64 `json:"bytes"` // as the engine counts it
}

func (f Freed) String() string {
	return fmt.Sprintf("Removed %d %s: %s", f.Count, f.Kind, bytesize.Decimal(int64(f.Bytes)))
}

// Result is what a reclaim did.
type Result struct {
	Freed   []Freed `json:"freed"`
	Trimmed uint64  `json:"trimmed"` // what the guest's filesystem trimmed
	// HostBefore and HostAfter are the host file's allocation around it:
	// what the host got back, which is what the user came for.
	HostBefore uint64 `json:"host_before"`
	HostAfter  uint64 `json:"host_after"`
}

// HostGain is what the host got back (negative if the file grew meanwhile).
func (r Result) HostGain() int64 { return int64(r.HostBefore) - int64(r.HostAfter) }

// Reclaimer prunes, trims the data disk so that the host's file gives
// back what the prunes freed, and measures what the host got.
type Reclaimer struct {
	Engine Engine
	// VolumesAll prunes named volumes too (API 1.42 and later; older
	// engines prune every unused volume and know no "all").
	VolumesAll bool
	Trim       func(ctx context.Context) (uint64, error)
	Allocated  func() (uint64, error) // the host file's allocation
	Progress   func(step string)
}

func (r Reclaimer) tell(format string, args ...any) {
	if r.Progress != nil {
		r.Progress(fmt.Sprintf(format, args...))
	}
}

// Run removes what picks names, in Kinds' order, then trims. A prune that
// fails does not stop the others or the trim: the error says which.
func (r Reclaimer) Run(ctx context.Context, picks Picks) (Result, error) {
	var res Result
	var errs []error
	before, err := r.Allocated()
	if err != nil {
		return res, fmt.Errorf("the data disk's size on the host: %w", err)
	}
	res.HostBefore = before
	for _, k := range Kinds {
		if !picks.Has(k) {
			continue
		}
		r.tell("Removing %s…", k.Unused())
		f, err := r.prune(ctx, k)
		if err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", k.Unused(), err))
			continue
		}
		res.Freed = append(res.Freed, f)
		r.tell("%s", f)
	}
	r.tell("Trimming the data disk, so that the host gets the space back…")
	if n, err := r.Trim(ctx); err != nil {
		errs = append(errs, fmt.Errorf("trim the data disk: %w", err))
	} else {
		res.Trimmed = n
		r.tell("%s", res.trimmedLine())
	}
	after, err := r.Allocated()
	if err != nil {
		errs = append(errs, fmt.Errorf("the data disk's size on the host: %w", err))
		after = before
	}
	res.HostAfter = after
	return res, errors.Join(errs...)
}

func (r Reclaimer) prune(ctx context.Context, k Kind) (Freed, error) {
	switch k {
	case Containers:
		p, err := r.Engine.ContainerPrune(ctx, client.ContainerPruneOptions{})
		return Freed{Kind: k, Count: len(p.Report.ContainersDeleted), Bytes: p.Report.SpaceReclaimed}, err
	case Images:
		// The engine's default: dangling images only.
		p, err := r.Engine.ImagePrune(ctx, client.ImagePruneOptions{})
		return Freed{Kind: k, Count: len(p.Report.ImagesDeleted), Bytes: p.Report.SpaceReclaimed}, err
	case BuildCache:
		p, err := r.Engine.BuildCachePrune(ctx, client.BuildCachePruneOptions{All: true})
		return Freed{Kind: k, Count: len(p.Report.CachesDeleted), Bytes: p.Report.SpaceReclaimed}, err
	case Volumes:
		p, err := r.Engine.VolumePrune(ctx, client.VolumePruneOptions{All: r.VolumesAll})
		return Freed{Kind: k, Count: len(p.Report.VolumesDeleted), Bytes: p.Report.SpaceReclaimed}, err
	}
	return Freed{}, fmt.Errorf("unknown kind %q", k)
}

// Write prints the result as `berth reclaim` ends.
func (r Result) Write(w io.Writer) error {
	for _, f := range r.Freed {
		fmt.Fprintln(w, f)
	}
	_, err := fmt.Fprintf(w, "%s\n%s\n", r.trimmedLine(), r.HostLine())
	return err
}

func (r Result) trimmedLine() string {
	return "Trimmed the data disk: " + bytesize.Binary(r.Trimmed)
}

// HostLine says what the host got back.
func (r Result) HostLine() string {
	gain := "nothing"
	if g := r.HostGain(); g > 0 {
		gain = bytesize.Binary(uint64(g))
	}
	return fmt.Sprintf("The host got back %s: the disk file takes %s (was %s)", gain, bytesize.Binary(r.HostAfter), bytesize.Binary(r.HostBefore))
}
