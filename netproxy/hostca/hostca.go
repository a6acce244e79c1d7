// Package hostca reads the certificate authorities the host trusts (Linux's
// system bundle, macOS's System and login keychains, Windows's Root and CA
// stores) and picks those a guest's own bundle lacks, so that the engine's
// pulls and builds trust what the host trusts (a company's TLS-inspecting
// proxy, a private registry).
package hostca

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"

	"github.com/berthvm/berth/internal/pemcert"
)

// Bundle is the host's trusted CAs and where they were read.
type Bundle struct {
	Certs []*x509.Certificate
	From  []string // files, keychains or stores that gave at least one
}

// Source reads one place the host keeps trusted CAs.
type Source interface {
	// Name says where, for logs and status.
	Name() string
	Read(ctx context.Context) ([]*x509.Certificate, error)
}

// Load reads every source, keeps CA certificates once each, and logs (and
// skips) a source or a certificate that cannot be read.
func Load(ctx context.Context, sources []Source, log *slog.Logger) Bundle {
	var b Bundle
	seen := map[string]bool{}
	for _, src := range sources {
		certs, err := src.Read(ctx)
		if err != nil {
			log.Warn("could not read the host's trusted certificates", "from", src.Name(), "err", err)
		}
		n := 0
		for _, c := range certs {
			fp := Fingerprint(c.Raw)
			if !isCA(c) || seen[fp] {
				continue
			}
			seen[fp] = true
			b.Certs = append(b.Certs, c)
			n++
		}
		if n > 0 {
			b.From = append(b.From, src.Name())
		}
	}
	return b
}

// isCA keeps authorities: a certificate that says it is a CA, or an old
// self-signed root without the extension. Keychains also hold leaves.
func isCA(c *x509.Certificate) bool {
	if c.BasicConstraintsValid {
		return c.IsCA
	}
	return c.CheckSignatureFrom(c) == nil
}

// Fingerprint is the SHA-256 of a certificate's DER, in hex.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// Missing is what of certs a bundle with the given fingerprints lacks.
func Missing(certs []*x509.Certificate, have map[string]bool) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range certs {
		if !have[Fingerprint(c.Raw)] {
			out = append(out, c)
		}
	}
	return out
}

// ParsePEM reads every CERTIFICATE block of data. A block that does not
// parse is skipped and named in the error, which the others survive.
func ParsePEM(data []byte) ([]*x509.Certificate, error) {
	return pemcert.Parse(data, "certificate")
}

// ParseDER reads certificates one DER blob each (Windows's stores).
func ParseDER(ders [][]byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	var errs []error
	for i, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			errs = append(errs, fmt.Errorf("certificate %d: %w", i+1, err))
			continue
		}
		certs = append(certs, c)
	}
	return certs, errors.Join(errs...)
}

// EncodePEM writes certs as a PEM bundle.
func EncodePEM(certs []*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}
