//go:build !windows

package daemon

import (
	"net"
	"path/filepath"

	"github.com/berthvm/berth/app/settings"
)

// DockerSocket is where Berth's docker API listens: a unix socket in the
// user's run directory.
func DockerSocket(p settings.Paths) string { return filepath.Join(p.Run, "docker.sock") }

func listenDocker(path string) (net.Listener, error) { return listenUnix(path) }
