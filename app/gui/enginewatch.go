package gui

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"
)

// setEngineSocket follows the engine behind socket ("" stops following).
func (u *UI) setEngineSocket(socket string) {
	u.engMu.Lock()
	defer u.engMu.Unlock()
	if socket == u.engSocket && (socket == "" || u.engCancel != nil) {
		return
	}
	if u.engCancel != nil {
		u.engCancel()
		u.engCancel = nil
	}
	u.engSocket = socket
	if socket == "" || u.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(u.ctx)
	u.engCancel = cancel
	go u.followEngine(ctx, socket)
}

// eng returns the connected engine, or nil.
func (u *UI) eng() Engine {
	u.engMu.Lock()
	defer u.engMu.Unlock()
	return u.engine
}

func (u *UI) setEngine(e Engine) {
	u.engMu.Lock()
	defer u.engMu.Unlock()
	u.engine = e
}

// followEngine connects to the engine, lists everything, then refreshes on
// each engine event; a broken stream is reconnected.
func (u *UI) followEngine(ctx context.Context, socket string) {
	for ctx.Err() == nil {
		err := u.engineSession(ctx, socket)
		if ctx.Err() != nil {
			return
		}
		u.o.Log.Info("docker engine connection lost; retrying", "err", err)
		u.do(func() {
			msg := fmt.Sprintf("Not connected to the docker engine (%v); retrying…", err)
			u.containers.offline(msg)
			u.images.offline(msg)
			u.volumes.offline(msg)
		})
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

func (u *UI) engineSession(ctx context.Context, socket string) error {
	e, err := u.o.Dial(socket)
	if err != nil {
		return err
	}
	defer e.Close() //nolint:errcheck // the client is dropped either way
	u.setEngine(e)
	defer u.setEngine(nil)
	// Subscribe before listing, so no change falls between the two.
	evs := e.Events(ctx, client.EventsListOptions{})
	if err := u.refreshLists(ctx, e); err != nil {
		return err
	}
	// Events come in bursts (a `docker run` is create, attach, start, …):
	// one refresh per burst.
	var pending <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-evs.Err:
			return fmt.Errorf("engine events: %w", err)
		case <-evs.Messages:
			if pending == nil {
				pending = time.After(200 * time.Millisecond)
			}
		case <-pending:
			pending = nil
			if err := u.refreshLists(ctx, e); err != nil {
				return err
			}
		}
	}
}

// lists is one consistent read of what the tabs show.
type lists struct {
	containers []container.Summary
	images     []image.Summary
	volumes    []volume.Volume
	volUsage   []volume.Volume
}

func (u *UI) refreshLists(ctx context.Context, e Engine) error {
	var l lists
	cs, err := e.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	l.containers = cs.Items
	ims, err := e.ImageList(ctx, client.ImageListOptions{})
	if err != nil {
		return fmt.Errorf("list images: %w", err)
	}
	l.images = ims.Items
	vs, err := e.VolumeList(ctx, client.VolumeListOptions{})
	if err != nil {
		return fmt.Errorf("list volumes: %w", err)
	}
	l.volumes = vs.Items
	// Sizes are a nicety: a slow or failing df leaves them blank.
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if du, err := e.DiskUsage(dctx, client.DiskUsageOptions{Volumes: true, Verbose: true}); err == nil {
		l.volUsage = du.Volumes.Items
	}
	cancel()
	now := time.Now()
	u.do(func() {
		u.containers.show(containerRows(l.containers, now))
		u.images.show(imageRows(l.images, now))
		u.volumes.show(volumeRows(l.volumes, l.volUsage, l.containers))
		if u.tabs.Selected().Text == diskTabName {
			u.space.load()
		}
		u.writeProbe()
	})
	return nil
}

// engineAction runs a change on the engine in the background; the lists
// follow from the engine's events. Errors show in the window.
func (u *UI) engineAction(action string, fn func(context.Context, Engine) error) {
	e := u.eng()
	if e == nil {
		u.showError(action, fmt.Errorf("the docker engine is not connected; start Berth first"))
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(u.ctx, 2*time.Minute)
		defer cancel()
		if err := fn(ctx, e); err != nil && ctx.Err() == nil {
			u.do(func() { u.showError(action, err) })
		}
	}()
}
