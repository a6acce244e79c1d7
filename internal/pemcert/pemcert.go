// Package pemcert reads the certificates of a PEM bundle, for the host
// (the CAs it trusts) and the guest (the ones it installs) alike.
package pemcert

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// Parse reads every CERTIFICATE block of data. A block that does not
// parse is skipped and named in the error ("what N: …", N counting
// blocks from 1), which the others survive.
func Parse(data []byte, what string) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	var errs []error
	for i := 1; ; i++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %d: %w", what, i, err))
			continue
		}
		certs = append(certs, c)
	}
	return certs, errors.Join(errs...)
}
