//go:build !unix

package stats

import (
	"errors"

	"github.com/berthvm/berth/guestd/protocol"
)

// diskUsage lets the package build on every OS (go build ./...); the
// reader only runs in the Linux guest.
func diskUsage(string) (protocol.Usage, error) {
	return protocol.Usage{}, errors.New("statfs: not supported here")
}
