package daemon

import (
	"context"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/netproxy/fwdproxy"
	"github.com/berthvm/berth/netproxy/hostca"
	"github.com/berthvm/berth/netproxy/hostproxy"
	"github.com/berthvm/berth/netproxy/vnet"
)

// proxySettingsTTL bounds how long a change of the host's proxy settings
// takes to reach the engine's next connection; reading them per connection
// would run scutil (macOS) for each layer of a pull.
const proxySettingsTTL = 5 * time.Second

// startProxy serves the engine's forward proxy on the gateway's address:
// each connection leaves through the host's proxy of that moment, or
// directly.
func (d *Daemon) startProxy(ctx context.Context, run *session, nw *vnet.Network) error {
	l, err := nw.ListenGateway(protocol.ProxyPort)
	if err != nil {
		return err
	}
	settings := hostproxy.NewCached(hostproxy.Host(os.Getenv, hostproxy.System()), proxySettingsTTL, d.o.Log)
	p := fwdproxy.New(fwdproxy.Config{
		Upstream: func(ctx context.Context, target *url.URL) (*url.URL, error) {
			s, err := settings.Current(ctx)
			if err != nil {
				return nil, err
			}
			return s.ProxyFor(target)
		},
		Dial: (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
		Log:  d.o.Log,
		Local: d.trustHandler(hostca.System, func(c control.CAs) {
			d.mu.Lock()
			run.cas = &c
			d.mu.Unlock()
		}),
	})
	run.goRun(func() {
		if err := p.Serve(ctx, l); err != nil {
			d.o.Log.Error("the engine's proxy stopped", "err", err)
		}
	})
	return nil
}
