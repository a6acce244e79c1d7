// Package diskuse says where the data disk's space goes and gives back
// what the user picks. It joins three views that each miss something: the
// host's disk file (what Berth costs the host), the guest's filesystem
// (what is used inside, logs included) and the engine's own accounting
// (/system/df: images, containers, volumes, build cache).
package diskuse

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/internal/bytesize"
)

// Kind is one kind of thing the engine keeps on the data disk.
type Kind string

// The kinds, in the order they are shown and pruned: containers first, so
// that what only they used becomes unused for the rest.
const (
	Containers Kind = "containers"
	Images     Kind = "images"
	BuildCache Kind = "build-cache"
	Volumes    Kind = "volumes"
)

// Kinds lists every kind in order.
var Kinds = []Kind{Containers, Images, BuildCache, Volumes}

// Title is the kind as a table row names it.
func (k Kind) Title() string {
	switch k {
	case BuildCache:
		return "Build cache"
	case Volumes:
		return "Volumes"
	case Images:
		return "Images"
	}
	return "Containers"
}

// Unused says which of the kind a reclaim removes.
func (k Kind) Unused() string {
	switch k {
	case Images:
		return "dangling images" // untagged, used by no container
	case BuildCache:
		return "unused build cache"
	case Volumes:
		return "unused volumes, with their data"
	}
	return "stopped containers"
}

// Category is what one kind takes, and what a reclaim of it would free.
type Category struct {
	Kind   Kind  `json:"kind"`
	Count  int64 `json:"count"`
	Active int64 `json:"active"` // in use: running containers, images and volumes they use
	Size   int64 `json:"size"`
	// Frees and FreesCount are what Reclaim would remove with this kind
	// picked: its own rule (e.g. dangling images only), not the engine's
	// wider "reclaimable".
	Frees      int64 `json:"frees"`
	FreesCount int64 `json:"frees_count"`
}

// HostFile is the data disk as the host stores it.
type HostFile struct {
	Path      string `json:"path"`
	Size      uint64 `json:"size"`      // as the guest sees it
	Allocated uint64 `json:"allocated"` // what it takes on the host's disk
}

// Report is the whole view.
type Report struct {
	Host       HostFile         `json:"host"`
	Guest      protocol.DiskUse `json:"guest"`
	Categories []Category       `json:"categories"`
}

// Engine is the part of moby's client that diskuse needs; *client.Client
// implements it.
type Engine interface {
	DiskUsage(ctx context.Context, o client.DiskUsageOptions) (client.DiskUsageResult, error)
	ContainerPrune(ctx context.Context, o client.ContainerPruneOptions) (client.ContainerPruneResult, error)
	ImagePrune(ctx context.Context, o client.ImagePruneOptions) (client.ImagePruneResult, error)
	BuildCachePrune(ctx context.Context, o client.BuildCachePruneOptions) (client.BuildCachePruneResult, error)
	VolumePrune(ctx context.Context, o client.VolumePruneOptions) (client.VolumePruneResult, error)
}

// Measure asks the engine what each kind takes.
func Measure(ctx context.Context, e Engine) ([]Category, error) {
	du, err := e.DiskUsage(ctx, client.DiskUsageOptions{Containers: true, Images: true, BuildCache: true, Volumes: true, Verbose: true})
	if err != nil {
		return nil, fmt.Errorf("the engine's disk use: %w", err)
	}
	return Categorize(du), nil
}

// Categorize turns the engine's figures into categories, counting for
// each what its prune removes.
func Categorize(du client.DiskUsageResult) []Category {
	cs := Category{Kind: Containers, Count: du.Containers.TotalCount, Active: du.Containers.ActiveCount, Size: du.Containers.TotalSize}
	for _, c := range du.Containers.Items {
		switch c.State {
		case container.StateExited, container.StateCreated, container.StateDead:
			cs.Frees += c.SizeRw
			cs.FreesCount++
		}
	}
	is := Category{Kind: Images, Count: du.Images.TotalCount, Active: du.Images.ActiveCount, Size: du.Images.TotalSize}
	for _, img := range du.Images.Items {
		if img.Containers != 0 || !dangling(img.RepoTags) {
			continue
		}
		is.FreesCount++
		if img.Size >= 0 && img.SharedSize >= 0 {
			is.Frees += img.Size - img.SharedSize
		}
	}
	bs := Category{Kind: BuildCache, Count: du.BuildCache.TotalCount, Active: du.BuildCache.ActiveCount, Size: du.BuildCache.TotalSize}
	for _, r := range du.BuildCache.Items {
		if !r.InUse {
			bs.FreesCount++
			if !r.Shared {
				bs.Frees += r.Size
			}
		}
	}
	vs := Category{Kind: Volumes, Count: du.Volumes.TotalCount, Active: du.Volumes.ActiveCount, Size: du.Volumes.TotalSize}
	for _, v := range du.Volumes.Items {
		if v.UsageData != nil && v.UsageData.RefCount == 0 {
			vs.FreesCount++
			vs.Frees += max(v.UsageData.Size, 0)
		}
	}
	return []Category{cs, is, bs, vs}
}

// dangling says whether an image has no name but its ID.
func dangling(tags []string) bool {
	return !slices.ContainsFunc(tags, func(t string) bool { return t != "<none>:<none>" })
}

// Picks are the kinds a reclaim removes.
type Picks []Kind

// DefaultPicks leave volumes alone: they hold data, not rebuildable state.
var DefaultPicks = Picks{Containers, Images, BuildCache}

// Has says whether k is picked.
func (p Picks) Has(k Kind) bool { return slices.Contains(p, k) }

// ParsePicks reads a comma-separated list of kinds, or "all".
func ParsePicks(s string) (Picks, error) {
	if strings.TrimSpace(s) == "all" {
		return slices.Clone(Kinds), nil
	}
	var p Picks
	for _, f := range strings.Split(s, ",") {
		k := Kind(strings.TrimSpace(f))
		if err := (Picks{k}).Validate(); err != nil {
			return nil, err
		}
		if !p.Has(k) {
			p = append(p, k)
		}
	}
	return p, nil
}

// Validate refuses a kind diskuse does not know.
func (p Picks) Validate() error {
	for _, k := range p {
		if !slices.Contains(Kinds, k) {
			return fmt.Errorf("%q is not something to reclaim: pick from %s, or all", k, joinKinds(Kinds))
		}
	}
	return nil
}

func joinKinds(ks []Kind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// Frees sums what the picked categories would free.
func (p Picks) Frees(cats []Category) int64 {
	var n int64
	for _, c := range cats {
		if p.Has(c.Kind) {
			n += c.Frees
		}
	}
	return n
}

// Write prints the report as `berth df` shows it.
func (r Report) Write(w io.Writer) error {
	fs := r.Guest.Filesystem
	fmt.Fprintf(w, "Data disk: %s on the host, of %s (%s)\n", bytesize.Binary(r.Host.Allocated), bytesize.Binary(r.Host.Size), r.Host.Path)
	fmt.Fprintf(w, "In the VM: %s used, %s free\n\n", bytesize.Binary(fs.Used), bytesize.Binary(fs.Total-min(fs.Used, fs.Total)))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "WHAT\tCOUNT\tIN USE\tSIZE\tRECLAIM FREES\n")
	for _, c := range r.Categories {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s (%d %s)\n", c.Kind.Title(), c.Count, c.Active, bytesize.Decimal(c.Size), bytesize.Decimal(c.Frees), c.FreesCount, c.Kind.Unused())
	}
	fmt.Fprintf(tw, "Logs\t\t\t%s\tlimited per container; removed with it\n", bytesize.Decimal(int64(r.Guest.Logs)))
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n`berth reclaim` frees %s (%s); `berth reclaim --what all` also removes unused volumes (%s).\n",
		bytesize.Decimal(DefaultPicks.Frees(r.Categories)), joinKinds(DefaultPicks), bytesize.Decimal(Picks{Volumes}.Frees(r.Categories)))
	return err
}
