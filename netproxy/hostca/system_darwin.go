package hostca

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// keychain is a macOS keychain read with `security find-certificate -a -p`
// (PEM out, no cgo).
type keychain string

func (k keychain) Name() string { return string(k) }

func (k keychain) Read(ctx context.Context) ([]*x509.Certificate, error) {
	out, err := exec.CommandContext(ctx, "security", "find-certificate", "-a", "-p", string(k)).Output()
	if err != nil {
		return nil, fmt.Errorf("security find-certificate %s: %w", k, err)
	}
	return ParsePEM(out)
}

// System is the System keychain (where administrators and MDM add CAs) and
// the user's login keychain. Apple's built-in roots
// (SystemRootCertificates) are left out: Debian's bundle carries the same
// public roots.
func System() []Source {
	srcs := []Source{keychain("/Library/Keychains/System.keychain")}
	if home, err := os.UserHomeDir(); err == nil {
		srcs = append(srcs, keychain(filepath.Join(home, "Library/Keychains/login.keychain-db")))
	}
	return srcs
}
