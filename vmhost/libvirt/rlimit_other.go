//go:build !unix

package libvirt

func hardFileLimit() (uint64, bool) { return 0, false }
