package gui

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/app/diskuse"
	"github.com/berthvm/berth/guestd/protocol"
)

// fakeMachine is a daemon in memory: Start and Stop move its state at once.
type fakeMachine struct {
	mu        sync.Mutex
	st        control.Status
	down      bool // the daemon is unreachable
	starts    int
	stops     int
	startErr  error
	reclaimed diskuse.Picks // what Reclaim was asked for
}

func (m *fakeMachine) DiskUse(context.Context) (diskuse.Report, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := diskuse.Report{
		Host:  diskuse.HostFile{Path: "/home/u/.local/share/berth/data.raw", Size: 64 << 30, Allocated: 5 << 30},
		Guest: protocol.DiskUse{Filesystem: protocol.Usage{Total: 62 << 30, Used: 4 << 30}, Logs: 3e6},
		Categories: []diskuse.Category{
			{Kind: diskuse.Containers, Count: 3, Active: 1, Size: 600e6, Frees: 500e6, FreesCount: 2},
			{Kind: diskuse.Images, Count: 4, Active: 1, Size: 2e9, Frees: 0, FreesCount: 0},
			{Kind: diskuse.BuildCache, Count: 9, Size: 300e6, Frees: 300e6, FreesCount: 9},
			{Kind: diskuse.Volumes, Count: 2, Active: 1, Size: 1.5e9, Frees: 1e9, FreesCount: 1},
		},
	}
	if m.reclaimed != nil {
		r.Host.Allocated = 3 << 30
	}
	return r, nil
}

func (m *fakeMachine) Reclaim(_ context.Context, picks diskuse.Picks, progress func(string)) (diskuse.Result, error) {
	m.mu.Lock()
	m.reclaimed = picks
	m.mu.Unlock()
	progress("Removing stopped containers…")
	return diskuse.Result{Freed: []diskuse.Freed{{Kind: diskuse.Containers, Count: 2, Bytes: 500e6}}, Trimmed: 2 << 30, HostBefore: 5 << 30, HostAfter: 3 << 30}, nil
}

func (m *fakeMachine) Status(context.Context) (control.Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return control.Status{}, errors.New("connection refused")
	}
	return m.st, nil
}

// Events sends the current state, as the daemon does, then waits.
func (m *fakeMachine) Events(ctx context.Context, fn func(control.Event) bool) error {
	st, err := m.Status(ctx)
	if err != nil {
		return err
	}
	fn(control.Event{State: st.State})
	<-ctx.Done()
	return ctx.Err()
}

func (m *fakeMachine) set(down bool, state control.State) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down, m.st.State = down, state
}

func (m *fakeMachine) Start(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.starts++
	if m.startErr != nil {
		return m.startErr
	}
	m.st.State = control.Starting
	return nil
}

func (m *fakeMachine) Stop(context.Context, bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stops++
	m.st.State = control.Stopped
	return nil
}

func (m *fakeMachine) Stats(context.Context) (protocol.Stats, error) {
	return protocol.Stats{CPUs: 2, CPUPercent: 12, Memory: protocol.Usage{Total: 2 << 30, Used: 1 << 29}, DataDisk: protocol.Usage{Total: 64 << 30, Used: 3 << 30}}, nil
}

func (m *fakeMachine) calls() (int, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.starts, m.stops
}

// fakeEngine serves lists from memory and emits an event on each change.
type fakeEngine struct {
	mu         sync.Mutex
	containers []container.Summary
	images     []image.Summary
	volumes    []volume.Volume
	removed    []string
	events     chan events.Message
	logs       string
	tty        bool
}

func newFakeEngine() *fakeEngine { return &fakeEngine{events: make(chan events.Message, 16)} }

func (e *fakeEngine) addContainer(c container.Summary) {
	e.mu.Lock()
	e.containers = append(e.containers, c)
	e.mu.Unlock()
	e.events <- events.Message{Type: events.ContainerEventType, Action: events.ActionCreate}
}

func (e *fakeEngine) ContainerList(context.Context, client.ContainerListOptions) (client.ContainerListResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return client.ContainerListResult{Items: append([]container.Summary(nil), e.containers...)}, nil
}

func (e *fakeEngine) ContainerInspect(_ context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	return client.ContainerInspectResult{Container: container.InspectResponse{ID: id, Config: &container.Config{Tty: e.tty}}}, nil
}

func (e *fakeEngine) ContainerStart(context.Context, string, client.ContainerStartOptions) (client.ContainerStartResult, error) {
	return client.ContainerStartResult{}, nil
}

func (e *fakeEngine) ContainerStop(context.Context, string, client.ContainerStopOptions) (client.ContainerStopResult, error) {
	return client.ContainerStopResult{}, nil
}

func (e *fakeEngine) ContainerRestart(context.Context, string, client.ContainerRestartOptions) (client.ContainerRestartResult, error) {
	return client.ContainerRestartResult{}, nil
}

func (e *fakeEngine) ContainerRemove(_ context.Context, id string, _ client.ContainerRemoveOptions) (client.ContainerRemoveResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.removed = append(e.removed, id)
	return client.ContainerRemoveResult{}, nil
}

func (e *fakeEngine) ContainerLogs(context.Context, string, client.ContainerLogsOptions) (client.ContainerLogsResult, error) {
	return io.NopCloser(strings.NewReader(e.logs)), nil
}

func (e *fakeEngine) ImageList(context.Context, client.ImageListOptions) (client.ImageListResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return client.ImageListResult{Items: e.images}, nil
}

func (e *fakeEngine) ImageRemove(context.Context, string, client.ImageRemoveOptions) (client.ImageRemoveResult, error) {
	return client.ImageRemoveResult{}, nil
}

func (e *fakeEngine) ImagePrune(context.Context, client.ImagePruneOptions) (client.ImagePruneResult, error) {
	return client.ImagePruneResult{}, nil
}

func (e *fakeEngine) VolumeList(context.Context, client.VolumeListOptions) (client.VolumeListResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return client.VolumeListResult{Items: e.volumes}, nil
}

func (e *fakeEngine) VolumeRemove(context.Context, string, client.VolumeRemoveOptions) (client.VolumeRemoveResult, error) {
	return client.VolumeRemoveResult{}, nil
}

func (e *fakeEngine) VolumePrune(context.Context, client.VolumePruneOptions) (client.VolumePruneResult, error) {
	return client.VolumePruneResult{}, nil
}

func (e *fakeEngine) DiskUsage(context.Context, client.DiskUsageOptions) (client.DiskUsageResult, error) {
	return client.DiskUsageResult{}, nil
}

func (e *fakeEngine) Events(ctx context.Context, _ client.EventsListOptions) client.EventsResult {
	return client.EventsResult{Messages: e.events, Err: make(chan error)}
}

func (e *fakeEngine) ClientVersion() string { return "1.41" }
func (e *fakeEngine) Close() error          { return nil }
