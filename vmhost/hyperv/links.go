package hyperv

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/hugelgupf/p9/fsimpl/localfs"
	"github.com/hugelgupf/p9/p9"

	"github.com/berthvm/berth/filesharing/p9ro"
	"github.com/berthvm/berth/vmhost"
)

// serveLinks serves what the guest dials, until ctx ends: the options on
// ConfigPort, eth0's frames on NICPort into network, a 9P server per share.
// listen opens a port (on Windows a Hyper-V socket bound to the VM); if one
// fails, those opened so far are closed.
func serveLinks(ctx context.Context, p plan, network vmhost.Network, listen func(port uint32) (net.Listener, error), log *slog.Logger) error {
	var ls []net.Listener
	open := func(port uint32) (net.Listener, error) {
		l, err := listen(port)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, fmt.Errorf("listen on Hyper-V socket port %d: %w", port, err)
		}
		ls = append(ls, l)
		return l, nil
	}
	cfgL, err := open(ConfigPort)
	if err != nil {
		return err
	}
	nicL, err := open(NICPort)
	if err != nil {
		return err
	}
	shareLs := make([]net.Listener, len(p.Shares))
	for i, sh := range p.Shares {
		if shareLs[i], err = open(sh.Port); err != nil {
			return err
		}
	}
	context.AfterFunc(ctx, func() {
		for _, l := range ls {
			l.Close()
		}
	})
	go acceptEach(ctx, cfgL, func(c net.Conn) {
		if _, err := c.Write([]byte(p.Options)); err != nil {
			log.Warn("could not send the VM its options", "vm", p.Name, "err", err)
		}
	})
	// One link at a time: a rebooted guest, or guestd after a dropped
	// link, dials again.
	go acceptEach(ctx, nicL, func(c net.Conn) {
		if err := network.ServeStream(ctx, c); err != nil {
			log.Warn("VM network link ended", "vm", p.Name, "err", err)
		}
	})
	for i, sh := range p.Shares {
		// The guest mounts a read-only share ro, but its root could mount
		// it again: the server refuses changes too, as vz does.
		a := localfs.Attacher(sh.HostPath)
		if sh.ReadOnly {
			a = p9ro.Attacher(a)
		}
		go p9.NewServer(a).ServeContext(ctx, shareLs[i])
	}
	return nil
}

// copyConsole appends what the guest's console says to path, dialing it
// again whenever it ends (a reboot, the VM not up yet), until ctx ends.
func copyConsole(ctx context.Context, dial func(context.Context) (net.Conn, error), path string, log *slog.Logger) {
	for ctx.Err() == nil {
		c, err := dial(ctx)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err == nil {
			_, err = io.Copy(f, c)
			f.Close()
		}
		stop()
		c.Close()
		if err != nil && ctx.Err() == nil {
			log.Debug("VM console", "err", err)
		}
	}
}

// acceptEach runs serve for each connection on l, one at a time, until
// ctx ends or l closes; it closes each connection after serve.
func acceptEach(ctx context.Context, l net.Listener, serve func(net.Conn)) {
	for ctx.Err() == nil {
		c, err := l.Accept()
		if err != nil {
			return
		}
		serve(c)
		c.Close()
	}
}
