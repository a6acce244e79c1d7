package hostca

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
)

// File is a PEM bundle on disk.
type File string

// Name is the path.
func (f File) Name() string { return string(f) }

// Read parses the bundle; a certificate that does not parse is reported
// along with the ones that do.
func (f File) Read(context.Context) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(string(f))
	if err != nil {
		return nil, err
	}
	certs, err := ParsePEM(data)
	if err != nil {
		return certs, fmt.Errorf("%s: %w", f, err)
	}
	return certs, nil
}

// linuxBundles are the distributions' system bundles (Go's crypto/x509
// list): Debian and Ubuntu, Fedora and RHEL, openSUSE, OpenELEC, CentOS,
// Alpine.
var linuxBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
	"/etc/pki/tls/cacert.pem",
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
	"/etc/ssl/cert.pem",
}

// LinuxBundle is the first of the distributions' bundles that exists
// (SSL_CERT_FILE first, as Go and OpenSSL take it).
func LinuxBundle(getenv func(string) string) []Source {
	paths := linuxBundles
	if f := getenv("SSL_CERT_FILE"); f != "" {
		paths = append([]string{f}, paths...)
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return []Source{File(p)}
		}
	}
	return nil
}
