//go:build !windows

package daemon

import "os"

// restrictSocket makes a unix socket the user's alone.
func restrictSocket(path string) error { return os.Chmod(path, 0o600) }
