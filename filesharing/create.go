package filesharing

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"

	"github.com/berthvm/berth/internal/rawjson"
)

// ResolveHost follows the symlinks of a host path. Bind sources need not
// exist yet (the engine creates missing ones), so the longest existing
// ancestor is resolved and the rest appended as written.
func ResolveHost(p string) (string, error) {
	rest := ""
	for cur := p; ; {
		r, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(r, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return p, nil
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// HostPolicy is the policy for this host's shares, following symlinks.
func HostPolicy(shares []Share) Policy {
	return Policy{GOOS: runtime.GOOS, Shares: shares, Resolve: ResolveHost}
}

// RewriteCreate vets the bind mounts of a container-create request body
// (POST /containers/create): HostConfig.Binds entries and Mounts of type
// "bind". Each host source is checked against the shares and replaced by its
// path in the VM; the first refusal is returned as the error. Everything else
// in the body is kept as sent, unknown fields included.
func (p Policy) RewriteCreate(body []byte) ([]byte, error) {
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("container create request: %w", err)
	}
	raw, ok := req["HostConfig"]
	if !ok || string(raw) == "null" {
		return body, nil
	}
	var hc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &hc); err != nil {
		return nil, fmt.Errorf("container create request: HostConfig: %w", err)
	}
	changed := false

	if b, ok := hc["Binds"]; ok && string(b) != "null" {
		var binds []string
		if err := json.Unmarshal(b, &binds); err != nil {
			return nil, fmt.Errorf("container create request: HostConfig.Binds: %w", err)
		}
		for i, bind := range binds {
			src, rest, err := SplitBind(p.GOOS, bind)
			if err != nil {
				return nil, err
			}
			guest, err := p.CheckBind(src)
			if err != nil {
				return nil, err
			}
			binds[i] = guest + ":" + rest
		}
		hc["Binds"], changed = rawjson.Must(binds), true
	}

	if m, ok := hc["Mounts"]; ok && string(m) != "null" {
		var mounts []map[string]json.RawMessage
		if err := json.Unmarshal(m, &mounts); err != nil {
			return nil, fmt.Errorf("container create request: HostConfig.Mounts: %w", err)
		}
		for _, mnt := range mounts {
			var typ, src string
			if t, ok := mnt["Type"]; ok {
				if err := json.Unmarshal(t, &typ); err != nil {
					return nil, fmt.Errorf("container create request: a mount's Type: %w", err)
				}
			}
			if typ != "bind" {
				continue // volumes, tmpfs, npipe, cluster: no host path
			}
			if err := json.Unmarshal(mnt["Source"], &src); err != nil {
				return nil, fmt.Errorf("container create request: a bind mount without a Source")
			}
			guest, err := p.CheckBind(src)
			if err != nil {
				return nil, err
			}
			mnt["Source"] = rawjson.Must(guest)
		}
		hc["Mounts"], changed = rawjson.Must(mounts), true
	}
	if !changed {
		return body, nil
	}
	req["HostConfig"] = rawjson.Must(hc)
	return json.Marshal(req)
}
