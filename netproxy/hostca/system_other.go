//go:build !linux && !darwin && !windows

package hostca

import "os"

// System is a Linux-style bundle where there is one (the BSDs).
func System() []Source { return LinuxBundle(os.Getenv) }
