package gui

import (
	"context"

	"github.com/moby/moby/client"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/app/diskuse"
	"github.com/berthvm/berth/app/dockerctx"
	"github.com/berthvm/berth/guestd/protocol"
)

// Machine is the Berth machine as the daemon shows it: launcher.Client,
// which starts the daemon when asked to start, or a fake in tests.
type Machine interface {
	Status(ctx context.Context) (control.Status, error)
	Events(ctx context.Context, fn func(control.Event) bool) error
	Start(ctx context.Context) error
	Stop(ctx context.Context, force bool) error
	Stats(ctx context.Context) (protocol.Stats, error)
	DiskUse(ctx context.Context) (diskuse.Report, error)
	Reclaim(ctx context.Context, picks diskuse.Picks, progress func(string)) (diskuse.Result, error)
}

// Engine is the part of the official Docker Go client the dashboard uses;
// *client.Client implements it, tests use a fake.
type Engine interface {
	ContainerList(ctx context.Context, o client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerInspect(ctx context.Context, id string, o client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ContainerStart(ctx context.Context, id string, o client.ContainerStartOptions) (client.ContainerStartResult, error)
	ContainerStop(ctx context.Context, id string, o client.ContainerStopOptions) (client.ContainerStopResult, error)
	ContainerRestart(ctx context.Context, id string, o client.ContainerRestartOptions) (client.ContainerRestartResult, error)
	ContainerRemove(ctx context.Context, id string, o client.ContainerRemoveOptions) (client.ContainerRemoveResult, error)
	ContainerLogs(ctx context.Context, id string, o client.ContainerLogsOptions) (client.ContainerLogsResult, error)
	ImageList(ctx context.Context, o client.ImageListOptions) (client.ImageListResult, error)
	ImageRemove(ctx context.Context, id string, o client.ImageRemoveOptions) (client.ImageRemoveResult, error)
	ImagePrune(ctx context.Context, o client.ImagePruneOptions) (client.ImagePruneResult, error)
	VolumeList(ctx context.Context, o client.VolumeListOptions) (client.VolumeListResult, error)
	VolumeRemove(ctx context.Context, id string, o client.VolumeRemoveOptions) (client.VolumeRemoveResult, error)
	VolumePrune(ctx context.Context, o client.VolumePruneOptions) (client.VolumePruneResult, error)
	DiskUsage(ctx context.Context, o client.DiskUsageOptions) (client.DiskUsageResult, error)
	Events(ctx context.Context, o client.EventsListOptions) client.EventsResult
	ClientVersion() string // the negotiated API version
	Close() error
}

// DialEngine returns a client of the engine behind Berth's docker socket (a
// unix socket path, or a named pipe on Windows). The guest's engine may be
// older than this client: moby's client negotiates the API version by
// default.
func DialEngine(socket string) (Engine, error) {
	return client.New(client.WithHost(dockerctx.HostURL(socket)))
}
