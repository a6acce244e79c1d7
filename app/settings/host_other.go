//go:build !linux && !darwin

package settings

// hostMemoryMiB reports 0, "unknown": validation then skips the upper bound.
func hostMemoryMiB() int { return 0 }
