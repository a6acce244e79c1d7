// Package trust adds the host's CAs to the guest's trust store: the host
// sends the certificates the guest's Debian bundle lacks, and guestd writes
// Debian's bundle plus those where Go (dockerd, BuildKit) and OpenSSL read
// system roots. Go reads them once per process, so the engine trusts what
// was installed when it started.
package trust

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/berthvm/berth/internal/pemcert"
)

// Store is the guest's CA bundle and the pristine copy of Debian's.
type Store struct {
	Bundle string // /etc/ssl/certs/ca-certificates.crt
	Base   string // Debian's bundle as the image shipped it, kept on first use
}

// DefaultStore is the guest's: the root's upper layer is a tmpfs, so each
// boot starts from the image's bundle.
func DefaultStore() Store {
	return Store{Bundle: "/etc/ssl/certs/ca-certificates.crt", Base: "/run/berth/ca-certificates.debian.crt"}
}

// base is Debian's bundle, saved aside the first time.
func (s Store) base() ([]byte, error) {
	if b, err := os.ReadFile(s.Base); err == nil {
		return b, nil
	}
	b, err := os.ReadFile(s.Bundle)
	if err != nil {
		return nil, fmt.Errorf("the guest's CA bundle: %w", err)
	}
	if err := writeFile(s.Base, b); err != nil {
		return nil, err
	}
	return b, nil
}

// Fingerprints are the SHA-256 fingerprints (hex) of Debian's bundle.
func (s Store) Fingerprints() ([]string, error) {
	b, err := s.base()
	if err != nil {
		return nil, err
	}
	var fps []string
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return fps, nil
		}
		if block.Type == "CERTIFICATE" {
			sum := sha256.Sum256(block.Bytes)
			fps = append(fps, hex.EncodeToString(sum[:]))
		}
	}
}

// Install writes Debian's bundle followed by the certificates of extra
// (PEM) that parse, and returns how many that was. A certificate that does
// not parse is left out and named in the error.
func (s Store) Install(extra []byte) (int, error) {
	base, err := s.base()
	if err != nil {
		return 0, err
	}
	certs, err := pemcert.Parse(extra, "host certificate")
	var add bytes.Buffer
	for _, c := range certs {
		pem.Encode(&add, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}) //nolint:errcheck // a bytes.Buffer
	}
	out := base
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	if err := writeFile(s.Bundle, append(out, add.Bytes()...)); err != nil {
		return 0, err
	}
	return len(certs), err
}

// writeFile replaces path whole (a reader never sees half a bundle).
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".berth-new"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// Fetch asks the host at url for the CAs that fingerprints lack (the
// host's trust endpoint; the body is one fingerprint a line).
func Fetch(ctx context.Context, c *http.Client, url string, fingerprints []string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(strings.Join(fingerprints, "\n")))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/plain")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask the host for its CAs: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("read the host's CAs: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("ask the host for its CAs: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}
