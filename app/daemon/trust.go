package daemon

import (
	"bufio"
	"io"
	"net/http"
	"strings"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/netproxy/hostca"
)

// trustHandler answers guestd's question before each engine start: which
// of the host's trusted CAs its bundle (the fingerprints in the body)
// lacks. The host's stores are read each time, so a CA added on the host
// reaches the engine at its next start.
func (d *Daemon) trustHandler(sources func() []hostca.Source, record func(control.CAs)) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+protocol.TrustPath, func(w http.ResponseWriter, r *http.Request) {
		have := map[string]bool{}
		sc := bufio.NewScanner(io.LimitReader(r.Body, 1<<20))
		for sc.Scan() {
			if fp := strings.TrimSpace(sc.Text()); fp != "" {
				have[strings.ToLower(fp)] = true
			}
		}
		b := hostca.Load(r.Context(), sources(), d.o.Log)
		missing := hostca.Missing(b.Certs, have)
		record(control.CAs{Carried: len(missing), From: b.From})
		d.o.Log.Info("host CAs carried into the guest", "carried", len(missing), "host_total", len(b.Certs), "from", strings.Join(b.From, ", "))
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write(hostca.EncodePEM(missing)) //nolint:errcheck // the guest logs a short read
	})
	return mux
}
