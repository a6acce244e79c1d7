//go:build !windows

package daemon

import (
	"net"
)

func listenDocker(path string) (net.Listener, error) { return listenUnix(path) }
