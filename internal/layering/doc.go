// Package layering holds the test that keeps Berth's layers apart: the host
// (app, vmhost, netproxy, filesharing) shares only guestd/protocol and
// netproxy/relay with the guest, only netproxy/vnet links gvisor, and the
// dashboard binary does not link the daemon's machinery.
package layering
