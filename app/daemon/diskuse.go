package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"

	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/versions"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/app/diskuse"
	"github.com/berthvm/berth/guestd/protocol"
)

// engineClient is moby's client of the guest's engine, reached over the
// virtual network as the docker socket's forwarder reaches it, so that
// the daemon's own calls do not queue behind the user's.
func engineClient(run *session) (*client.Client, error) {
	return client.New(
		client.WithHost("tcp://engine:"+fmt.Sprint(protocol.EnginePort)),
		client.WithDialContext(func(ctx context.Context, _, _ string) (net.Conn, error) {
			return run.dial(ctx, protocol.EnginePort)
		}))
}

// hostFile is the data disk's file as the host stores it.
func (d *Daemon) hostFile() (diskuse.HostFile, error) {
	path := d.dataDiskFile()
	alloc, err := diskAllocated(path)
	d.mu.Lock()
	size := uint64(d.settings.DiskGiB) << 30
	d.mu.Unlock()
	return diskuse.HostFile{Path: path, Size: size, Allocated: alloc}, err
}

// diskUse joins the host's, the guest's and the engine's views of the
// data disk.
func (d *Daemon) diskUse(ctx context.Context, run *session) (diskuse.Report, error) {
	var r diskuse.Report
	var err error
	if r.Host, err = d.hostFile(); err != nil {
		return r, err
	}
	if r.Guest, err = run.guest.DiskUse(ctx); err != nil {
		return r, err
	}
	eng, err := engineClient(run)
	if err != nil {
		return r, err
	}
	defer eng.Close() //nolint:errcheck // the client is dropped either way
	r.Categories, err = diskuse.Measure(ctx, eng)
	return r, err
}

func (d *Daemon) serveDiskUse(w http.ResponseWriter, r *http.Request) {
	run := d.running()
	if run == nil {
		protocol.WriteError(w, http.StatusConflict, errNotRunning)
		return
	}
	rep, err := d.diskUse(r.Context(), run)
	if err != nil {
		protocol.WriteError(w, http.StatusBadGateway, fmt.Errorf("disk use: %w", err))
		return
	}
	protocol.WriteJSON(w, http.StatusOK, rep)
}

// serveReclaim prunes what the request picks and trims, streaming its
// steps (control.ReclaimEvent, one per line), then the result.
func (d *Daemon) serveReclaim(w http.ResponseWriter, r *http.Request) {
	req := control.ReclaimRequest{What: diskuse.DefaultPicks}
	if err := decodeBody(r, &req); err != nil {
		protocol.WriteError(w, http.StatusBadRequest, err)
		return
	}
	if err := req.What.Validate(); err != nil {
		protocol.WriteError(w, http.StatusBadRequest, err)
		return
	}
	run := d.running()
	if run == nil {
		protocol.WriteError(w, http.StatusConflict, errNotRunning)
		return
	}
	eng, err := engineClient(run)
	if err != nil {
		protocol.WriteError(w, http.StatusBadGateway, err)
		return
	}
	defer eng.Close() //nolint:errcheck // the client is dropped either way
	// The version decides how volumes are pruned: ask before the first prune.
	if _, err := eng.Ping(r.Context(), client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		protocol.WriteError(w, http.StatusBadGateway, fmt.Errorf("the engine: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	send := func(e control.ReclaimEvent) {
		if enc.Encode(e) == nil && flusher != nil {
			flusher.Flush()
		}
	}
	rc := diskuse.Reclaimer{
		Engine: eng,
		// Before API 1.42 prune took named volumes too, and knew no "all".
		VolumesAll: versions.GreaterThanOrEqualTo(eng.ClientVersion(), "1.42"),
		Trim:       run.guest.Trim,
		Allocated:  func() (uint64, error) { return diskAllocated(d.dataDiskFile()) },
		Progress:   func(step string) { send(control.ReclaimEvent{Step: step}) },
	}
	res, err := rc.Run(r.Context(), req.What)
	last := control.ReclaimEvent{Result: &res}
	if err != nil {
		last.Error = err.Error()
		d.o.Log.Warn("reclaim space", "err", err)
	}
	d.o.Log.Info("reclaimed space", "what", req.What, "host_before", res.HostBefore, "host_after", res.HostAfter, "trimmed", res.Trimmed)
	send(last)
}
