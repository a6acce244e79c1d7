//go:build !windows

package vhdx

import "os"

// openShared opens path for reading; Unix has no share modes.
func openShared(path string) (*os.File, error) { return os.Open(path) }
