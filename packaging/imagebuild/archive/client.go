package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ulikunitz/xz"
)

// Client fetches from Debian mirrors into a cache directory.
type Client struct {
	HTTP     *http.Client
	Keys     openpgp.KeyRing
	CacheDir string // .debs live in CacheDir/sha256/<hex>
	Log      *slog.Logger
	Attempts int           // per download; network errors and 5xx are retried
	Backoff  time.Duration // before the first retry, doubling after
}

// NewClient returns a client with the archive keys kept in the repo.
func NewClient(cacheDir string, log *slog.Logger) (*Client, error) {
	keys, err := DebianKeys()
	if err != nil {
		return nil, err
	}
	return &Client{HTTP: &http.Client{Timeout: 10 * time.Minute}, Keys: keys, CacheDir: cacheDir, Log: log, Attempts: 4, Backoff: time.Second}, nil
}

// Index downloads and verifies src's InRelease, then the Packages index of
// component main for arch, checked against the Release's SHA256.
func (c *Client) Index(ctx context.Context, src *Source, arch string) ([]*Package, error) {
	base := strings.TrimSuffix(src.Mirror, "/") + "/dists/" + src.Suite + "/"
	inRel, err := c.get(ctx, base+"InRelease")
	if err != nil {
		return nil, err
	}
	rel, err := VerifyRelease(inRel, c.Keys)
	if err == nil {
		err = rel.Check(src.Suite, time.Now())
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", base+"InRelease", err)
	}
	c.Log.Info("release verified", "suite", src.Suite, "date", rel.Date, "signer", rel.Signer)
	for _, name := range []string{"Packages.xz", "Packages"} {
		path := "main/binary-" + arch + "/" + name
		want, ok := rel.Files[path]
		if !ok {
			continue
		}
		b, err := c.get(ctx, base+path)
		if err != nil {
			return nil, err
		}
		if got := sha256Hex(b); got != want.SHA256 {
			return nil, fmt.Errorf("%s: SHA-256 %s, but InRelease says %s: refusing it (a mirror in sync?)", base+path, got, want.SHA256)
		}
		var r io.Reader = bytes.NewReader(b)
		if name == "Packages.xz" {
			if r, err = xz.NewReader(r); err != nil {
				return nil, fmt.Errorf("%s: %w", base+path, err)
			}
		}
		pkgs, err := ParsePackages(r, arch, src)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", base+path, err)
		}
		return pkgs, nil
	}
	return nil, fmt.Errorf("%s: InRelease lists no main/binary-%s/Packages: is %s an architecture of %s?", base, arch, arch, src.Suite)
}

// Deb returns the path of p's .deb in the cache, downloading it if it is
// not there. The file's SHA-256 must be the index's.
func (c *Client) Deb(ctx context.Context, p *Package) (string, error) {
	dir := filepath.Join(c.CacheDir, "sha256")
	path := filepath.Join(dir, p.SHA256)
	if f, err := os.Open(path); err == nil {
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err == nil && hex.EncodeToString(h.Sum(nil)) == p.SHA256 {
			return path, nil
		}
		c.Log.Warn("cached package is damaged, downloading it again", "package", p.Name, "path", path)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	url := strings.TrimSuffix(p.Source.Mirror, "/") + "/" + p.Filename
	b, err := c.get(ctx, url)
	if err != nil {
		return "", fmt.Errorf("package %s: %w", p, err)
	}
	if got := sha256Hex(b); got != p.SHA256 {
		return "", fmt.Errorf("package %s from %s: SHA-256 %s, but the signed index says %s: refusing it", p, url, got, p.SHA256)
	}
	tmp, err := os.CreateTemp(dir, ".part-*")
	if err != nil {
		return "", err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return "", err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return path, os.Rename(tmp.Name(), path)
}

// errPermanent marks an answer that retrying will not change.
var errPermanent = errors.New("permanent")

func (c *Client) get(ctx context.Context, url string) ([]byte, error) {
	attempts := max(c.Attempts, 1)
	var err error
	for i := range attempts {
		if i > 0 {
			wait := c.Backoff << (i - 1)
			c.Log.Warn("download failed, retrying", "url", url, "err", err, "in", wait)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(wait):
			}
		}
		var b []byte
		b, err = c.getOnce(ctx, url)
		if err == nil {
			return b, nil
		}
		if errors.Is(err, errPermanent) || ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("download %s: %w (after %d attempts; is the mirror reachable? set -mirror to another)", url, err, attempts)
}

func (c *Client) getOnce(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errPermanent, err)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("HTTP %s", resp.Status)
		if resp.StatusCode < 500 {
			err = fmt.Errorf("%w: %v", errPermanent, err)
		}
		return nil, err
	}
	return io.ReadAll(resp.Body)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
