//go:build linux

package main

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/guestd/trust"
)

// refreshTrust asks the host, before each start of the engine, for the CAs
// it trusts that Debian's bundle lacks and installs them: dockerd reads the
// system roots once per process, so each start is when a change on the
// host can count. A host that does not answer leaves the bundle as it was
// (Debian's, or the last set carried in this boot).
func (g *guest) refreshTrust() {
	if g.cfg.ProxyPort == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := trust.DefaultStore()
	fps, err := st.Fingerprints()
	if err != nil {
		g.log.Warn("cannot read the guest's CA bundle; the host's CAs are not added", "err", err)
		return
	}
	url := "http://" + net.JoinHostPort(g.cfg.Gateway.String(), strconv.Itoa(g.cfg.ProxyPort)) + protocol.TrustPath
	// No proxy for this: it is the host itself.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	pem, err := trust.Fetch(ctx, client, url, fps)
	if err != nil {
		g.log.Warn("the host's CAs are not added", "err", err)
		return
	}
	n, err := st.Install(pem)
	if err != nil {
		g.log.Warn("some of the host's CAs were left out", "err", err)
	}
	g.log.Info("the host's CAs added to the guest's trust store", "count", n)
}
