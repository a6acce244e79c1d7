//go:build !unix

package stats

import "errors"

// diskUsage exists so the package's types build for the host side on
// every OS; the reader itself only runs in the Linux guest.
func diskUsage(string) (Usage, error) { return Usage{}, errors.New("statfs: not supported here") }
