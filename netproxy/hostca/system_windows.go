package hostca

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// store is a Windows system certificate store of the current user (which
// includes the machine's), read through crypt32.
type store string

func (s store) Name() string { return "Windows " + string(s) + " store" }

func (s store) Read(context.Context) ([]*x509.Certificate, error) {
	name, err := windows.UTF16PtrFromString(string(s))
	if err != nil {
		return nil, err
	}
	h, err := windows.CertOpenSystemStore(0, name)
	if err != nil {
		return nil, fmt.Errorf("open the %s certificate store: %w", s, err)
	}
	defer windows.CertCloseStore(h, 0) //nolint:errcheck // read-only handle
	var ders [][]byte
	var cur *windows.CertContext
	for {
		cur, err = windows.CertEnumCertificatesInStore(h, cur)
		if err != nil {
			if errors.Is(err, windows.Errno(windows.CRYPT_E_NOT_FOUND)) {
				break
			}
			return nil, fmt.Errorf("read the %s certificate store: %w", s, err)
		}
		if cur == nil {
			break
		}
		der := unsafe.Slice(cur.EncodedCert, cur.Length)
		ders = append(ders, append([]byte(nil), der...))
	}
	return ParseDER(ders)
}

// System is the Root and CA (intermediate) stores.
func System() []Source { return []Source{store("ROOT"), store("CA")} }
