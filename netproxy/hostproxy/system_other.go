//go:build !darwin && !windows

package hostproxy

// System is nil where the environment is the system's setting (Linux).
func System() Source { return nil }
