package hyperv

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/hugelgupf/p9/p9"

	"github.com/berthvm/berth/filesharing/p9share"
	"github.com/berthvm/berth/vmhost"
)

// serveLinks serves what the guest dials, until ctx ends: the options on
// ConfigPort, eth0's frames on NICPort into network, guestd's log on
// LogPort into the serial log, a 9P server per share.
// listen opens a port (on Windows a Hyper-V socket that takes only the
// VM's connections, fromVM); if one fails, those opened so far are closed.
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
	logL, err := open(LogPort)
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
	go acceptEach(ctx, logL, func(c net.Conn) {
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
		if err := appendLines(p.SerialLog, c); err != nil && ctx.Err() == nil {
			log.Debug("VM log link ended", "vm", p.Name, "err", err)
		}
	})
	for i, sh := range p.Shares {
		// The guest mounts a read-only share ro, but its root could mount
		// it again: the server refuses changes too, as vz does.
		log := log.With("vm", p.Name, "share", sh.HostPath)
		srv, l := p9.NewServer(p9share.New(sh.HostPath, sh.ReadOnly, log)), shareLs[i]
		go func() {
			if err := srv.ServeContext(ctx, l); err != nil && ctx.Err() == nil {
				log.Warn("9P server stopped", "err", err)
			}
		}()
	}
	return nil
}

// copyConsole appends what the guest's console says to path, dialing it
// again every `every` whenever it ends (a reboot, the VM not up yet), until
// ctx ends. A console that cannot be dialed is said once, not at every
// try: Hyper-V may serve its COM pipe to administrators only, and the
// daemon runs as the user; guestd's log still comes over LogPort.
func copyConsole(ctx context.Context, dial func(context.Context) (net.Conn, error), path string, every time.Duration, log *slog.Logger) {
	said := false
	for ctx.Err() == nil {
		c, err := dial(ctx)
		if err != nil {
			if !said && ctx.Err() == nil {
				log.Warn("cannot read the VM's console; guestd's log still arrives over a Hyper-V socket", "log", path, "err", err)
				said = true
			}
			select {
			case <-ctx.Done():
			case <-time.After(every):
			}
			continue
		}
		said = false
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

// appendLines appends what r says to path, a whole line per write: the
// console is appended to the same file, and a line of guestd's (its fatal
// line above all) must stay whole for the daemon to read it.
func appendLines(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if line[len(line)-1] != '\n' {
				line = append(line, '\n')
			}
			if _, werr := f.Write(line); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// fromVM hands over only the connections that come from the VM vmID.
// Berth's sockets are bound to the VM's own ID (bindAddr), which should
// already keep other VMs out; this holds even if Windows ever delivers
// another VM's connection: it must not get this one's options, network or
// shares. peer tells a connection's VM from its address.
type fromVM struct {
	net.Listener
	vmID string
	peer func(net.Addr) string
	log  *slog.Logger
}

func (l fromVM) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		id := l.peer(c.RemoteAddr())
		if strings.EqualFold(id, l.vmID) {
			return c, nil
		}
		l.log.Warn("refused a Hyper-V socket connection from another VM", "port", l.Addr(), "vm", l.vmID, "from", id)
		c.Close()
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
