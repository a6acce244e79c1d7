package daemon

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/internal/rawjson"
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

// guestBundle is the guest's trust store: Debian's CAs and the host's
// (guestd/trust writes it before each engine start).
const guestBundle = "/etc/ssl/certs/ca-certificates.crt"

// withHostCAs adds to a container-create request (already vetted for
// shares, so its bind sources are VM paths) a read-only bind of the
// guest's trust store over the same path in the container, where Debian,
// Ubuntu, Alpine and Arch images read their CAs. A container that mounts
// something there or over /etc/ssl/certs itself keeps its own.
func withHostCAs(body []byte) ([]byte, error) {
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("container create request: %w", err)
	}
	hc := map[string]json.RawMessage{}
	if raw, ok := req["HostConfig"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &hc); err != nil {
			return nil, fmt.Errorf("container create request: HostConfig: %w", err)
		}
	}
	var binds []string
	if b, ok := hc["Binds"]; ok && string(b) != "null" {
		if err := json.Unmarshal(b, &binds); err != nil {
			return nil, fmt.Errorf("container create request: HostConfig.Binds: %w", err)
		}
	}
	taken := func(target string) bool {
		t := path.Clean(target)
		return t == guestBundle || t == path.Dir(guestBundle)
	}
	for _, b := range binds {
		if f := strings.Split(b, ":"); len(f) >= 2 && taken(f[1]) {
			return body, nil
		}
	}
	if m, ok := hc["Mounts"]; ok && string(m) != "null" {
		var mounts []struct{ Target string }
		if err := json.Unmarshal(m, &mounts); err != nil {
			return nil, fmt.Errorf("container create request: HostConfig.Mounts: %w", err)
		}
		for _, mnt := range mounts {
			if taken(mnt.Target) {
				return body, nil
			}
		}
	}
	hc["Binds"] = rawjson.Must(append(binds, guestBundle+":"+guestBundle+":ro"))
	req["HostConfig"] = rawjson.Must(hc)
	return json.Marshal(req)
}
