package diskuse

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"

	"github.com/berthvm/berth/guestd/protocol"
)

// engineDU is an engine's answer with one of each case.
func engineDU() client.DiskUsageResult {
	var du client.DiskUsageResult
	du.Containers = client.ContainersDiskUsage{TotalCount: 4, ActiveCount: 2, TotalSize: 1111, Items: []container.Summary{
		{State: container.StateRunning, SizeRw: 1000},
		{State: container.StatePaused, SizeRw: 100}, // not pruned
		{State: container.StateExited, SizeRw: 10},
		{State: container.StateCreated, SizeRw: 1},
	}}
	du.Images = client.ImagesDiskUsage{TotalCount: 4, ActiveCount: 1, TotalSize: 5000, Items: []image.Summary{
		{RepoTags: []string{"app:1"}, Containers: 1, Size: 3000, SharedSize: 1000},
		{RepoTags: []string{"old:1"}, Containers: 0, Size: 500, SharedSize: 0},          // unused but named: kept
		{RepoTags: nil, Containers: 0, Size: 400, SharedSize: 100},                      // dangling: 300 freed
		{RepoTags: []string{"<none>:<none>"}, Containers: 0, Size: 200, SharedSize: -1}, // dangling, size unknown
	}}
	du.BuildCache = client.BuildCacheDiskUsage{TotalCount: 3, ActiveCount: 1, TotalSize: 900, Items: []build.CacheRecord{
		{InUse: true, Size: 400},
		{Shared: true, Size: 300}, // removed, but frees nothing of its own
		{Size: 500},
	}}
	du.Volumes = client.VolumesDiskUsage{TotalCount: 3, ActiveCount: 1, TotalSize: 7000, Items: []volume.Volume{
		{Name: "db", UsageData: &volume.UsageData{RefCount: 1, Size: 5000}},
		{Name: "old", UsageData: &volume.UsageData{RefCount: 0, Size: 2000}},
		{Name: "local?", UsageData: nil},
	}}
	return du
}

func TestCategorizeCountsWhatEachPruneRemoves(t *testing.T) {
	got := Categorize(engineDU())
	want := []Category{
		{Kind: Containers, Count: 4, Active: 2, Size: 1111, Frees: 11, FreesCount: 2},
		{Kind: Images, Count: 4, Active: 1, Size: 5000, Frees: 300, FreesCount: 2},
		{Kind: BuildCache, Count: 3, Active: 1, Size: 900, Frees: 500, FreesCount: 2},
		{Kind: Volumes, Count: 3, Active: 1, Size: 7000, Frees: 2000, FreesCount: 1},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("categories\n got %+v\nwant %+v", got, want)
	}
	if n := DefaultPicks.Frees(got); n != 811 {
		t.Fatalf("default picks free %d, want 811 (volumes left alone)", n)
	}
}

func TestParsePicks(t *testing.T) {
	for in, want := range map[string]Picks{
		"images":                     {Images},
		"build-cache, containers":    {BuildCache, Containers},
		"all":                        Kinds,
		"volumes,volumes":            {Volumes},
		"containers,images,volumes,": nil,
		"dangling":                   nil,
	} {
		got, err := ParsePicks(in)
		if want == nil {
			if err == nil || !strings.Contains(err.Error(), "pick from containers, images, build-cache, volumes") {
				t.Errorf("%q: %v, %v: want an error naming the kinds", in, got, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestReportWrite(t *testing.T) {
	r := Report{
		Host:       HostFile{Path: "/home/u/.local/share/berth/data.raw", Size: 64 << 30, Allocated: 3 << 30},
		Guest:      protocol.DiskUse{Filesystem: protocol.Usage{Total: 62 << 30, Used: 2 << 30}, Logs: 5_200_000},
		Categories: Categorize(engineDU()),
	}
	var b strings.Builder
	if err := r.Write(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"Data disk: 3.0 GiB on the host, of 64.0 GiB (/home/u/.local/share/berth/data.raw)",
		"In the VM: 2.0 GiB used, 60.0 GiB free",
		"Images", "300 B (2 dangling images",
		"Volumes", "2 kB (1 unused volumes, with their data",
		"Logs", "5.2 MB",
		"`berth reclaim` frees 811 B (containers, images, build-cache)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}

// fakeEngine prunes from a list of what each prune removes, and records
// the calls.
type fakeEngine struct {
	calls   []string
	fail    Kind
	volAll  bool
	reports map[Kind]Freed
}

func (f *fakeEngine) DiskUsage(context.Context, client.DiskUsageOptions) (client.DiskUsageResult, error) {
	return engineDU(), nil
}

func (f *fakeEngine) pruned(k Kind) ([]string, uint64, error) {
	f.calls = append(f.calls, string(k))
	if k == f.fail {
		return nil, 0, errors.New("engine said no")
	}
	r := f.reports[k]
	return make([]string, r.Count), r.Bytes, nil
}

func (f *fakeEngine) ContainerPrune(context.Context, client.ContainerPruneOptions) (client.ContainerPruneResult, error) {
	ids, n, err := f.pruned(Containers)
	return client.ContainerPruneResult{Report: container.PruneReport{ContainersDeleted: ids, SpaceReclaimed: n}}, err
}

func (f *fakeEngine) ImagePrune(_ context.Context, o client.ImagePruneOptions) (client.ImagePruneResult, error) {
	if len(o.Filters) != 0 {
		return client.ImagePruneResult{}, errors.New("dangling only: no filters")
	}
	ids, n, err := f.pruned(Images)
	del := make([]image.DeleteResponse, len(ids))
	return client.ImagePruneResult{Report: image.PruneReport{ImagesDeleted: del, SpaceReclaimed: n}}, err
}

func (f *fakeEngine) BuildCachePrune(_ context.Context, o client.BuildCachePruneOptions) (client.BuildCachePruneResult, error) {
	if !o.All {
		return client.BuildCachePruneResult{}, errors.New("want all unused cache")
	}
	ids, n, err := f.pruned(BuildCache)
	return client.BuildCachePruneResult{Report: build.CachePruneReport{CachesDeleted: ids, SpaceReclaimed: n}}, err
}

func (f *fakeEngine) VolumePrune(_ context.Context, o client.VolumePruneOptions) (client.VolumePruneResult, error) {
	f.volAll = o.All
	ids, n, err := f.pruned(Volumes)
	return client.VolumePruneResult{Report: volume.PruneReport{VolumesDeleted: ids, SpaceReclaimed: n}}, err
}

func TestReclaimPrunesThePicksThenTrims(t *testing.T) {
	e := &fakeEngine{reports: map[Kind]Freed{Containers: {Count: 2, Bytes: 11}, Images: {Count: 1, Bytes: 300 << 20}, Volumes: {Count: 1, Bytes: 2 << 30}}}
	alloc := uint64(5 << 30)
	var steps []string
	r := Reclaimer{
		Engine: e, VolumesAll: true,
		Trim: func(context.Context) (uint64, error) {
			if len(e.calls) == 0 {
				t.Error("trimmed before pruning")
			}
			alloc -= 2 << 30
			return 2<<30 + 300<<20, nil
		},
		Allocated: func() (uint64, error) { return alloc, nil },
		Progress:  func(s string) { steps = append(steps, s) },
	}
	res, err := r.Run(context.Background(), Picks{Volumes, Containers, Images})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"containers", "images", "volumes"}; !slices.Equal(e.calls, want) {
		t.Fatalf("pruned %v, want %v (containers first, build cache not picked)", e.calls, want)
	}
	if !e.volAll {
		t.Fatal("named volumes not pruned on an engine that takes all")
	}
	if res.HostBefore != 5<<30 || res.HostAfter != 3<<30 || res.HostGain() != 2<<30 || len(res.Freed) != 3 {
		t.Fatalf("result %+v", res)
	}
	var b strings.Builder
	res.Write(&b)
	for _, want := range []string{"Removed 1 volumes: 2.15 GB", "Trimmed the data disk: 2.3 GiB", "The host got back 2.0 GiB: the disk file takes 3.0 GiB (was 5.0 GiB)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
	if len(steps) != 8 || !strings.HasPrefix(steps[6], "Trimming") || steps[7] != "Trimmed the data disk: 2.3 GiB" {
		t.Fatalf("progress %q", steps)
	}
}

func TestReclaimGoesOnAfterAFailedPrune(t *testing.T) {
	e := &fakeEngine{fail: Containers}
	trimmed := false
	r := Reclaimer{
		Engine:    e,
		Trim:      func(context.Context) (uint64, error) { trimmed = true; return 0, nil },
		Allocated: func() (uint64, error) { return 1 << 30, nil },
	}
	res, err := r.Run(context.Background(), DefaultPicks)
	if err == nil || !strings.Contains(err.Error(), "remove stopped containers: engine said no") {
		t.Fatalf("error %v", err)
	}
	if !trimmed || len(res.Freed) != 2 || res.HostGain() != 0 {
		t.Fatalf("after a failed prune: trimmed %v, result %+v", trimmed, res)
	}
	var b strings.Builder
	res.Write(&b)
	if !strings.Contains(b.String(), "The host got back nothing") {
		t.Fatal(b.String())
	}
}
