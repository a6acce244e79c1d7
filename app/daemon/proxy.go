package daemon

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/app/dockerctx"
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

// containerProxies writes the docker CLI's proxies for Berth's docker host
// when the user opts in (and removes them when not): containers and builds
// the CLI starts get the engine's proxy at its address inside the virtual
// network, which their traffic reaches through the VM, and so follow the
// host's settings as the engine does. A failure is a warning: containers
// work without it.
func (d *Daemon) containerProxies(on bool) {
	host := dockerctx.HostURL(d.o.Paths.DockerSocket())
	var p *dockerctx.Proxies
	if on {
		p = containerProxySettings(protocol.GatewayIP, protocol.ProxyPort, protocol.Subnet)
	}
	if err := d.o.Contexts.SetProxies(host, p); err != nil {
		d.o.Log.Warn("could not write the docker CLI's proxies for containers", "err", err)
	}
}

// containerProxySettings is what containers get: the gateway's proxy, with
// loopback, the virtual network and the host's alias direct.
func containerProxySettings(gw netip.Addr, port int, subnet netip.Prefix) *dockerctx.Proxies {
	proxy := "http://" + net.JoinHostPort(gw.String(), strconv.Itoa(port))
	return &dockerctx.Proxies{HTTPProxy: proxy, HTTPSProxy: proxy,
		NoProxy: strings.Join([]string{"localhost", "127.0.0.0/8", "::1", subnet.Masked().String(), "host.docker.internal", "gateway.docker.internal", ".berth.internal"}, ",")}
}
