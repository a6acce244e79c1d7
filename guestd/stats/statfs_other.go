//go:build !unix

package stats

import (
	"errors"

	"github.com/berthvm/berth/guestd/protocol"
)

// DiskUsage lets the package build on every OS (go build ./...); the
// reader only runs in the Linux guest.
func DiskUsage(string) (protocol.Usage, error) {
	return protocol.Usage{}, errors.New("statfs: not supported here")
}
