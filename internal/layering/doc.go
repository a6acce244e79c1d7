// Package layering holds the test that keeps Berth's layers apart: the host
// (app, vmhost, netproxy, filesharing) shares only guestd/protocol with the
// guest, and the dashboard binary does not link the daemon's machinery.
package layering
