//go:build !windows

package hypervrights

// Check is nil where there is no Hyper-V to need rights for.
func Check() error { return nil }
