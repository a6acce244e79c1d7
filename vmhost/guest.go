package vmhost

import "path/filepath"

// GuestFiler is a backend that boots from files of its own in the guest
// image (Hyper-V: VHDX disks), so an installed guest image may hold only
// those rather than the kernel, initrd and system image the others boot.
type GuestFiler interface {
	GuestFiles(guestDir string) []string
}

// GuestFilesOf are the files in guestDir that b's machines boot from.
func GuestFilesOf(b Backend, guestDir string) []string {
	if f, ok := b.(GuestFiler); ok {
		return f.GuestFiles(guestDir)
	}
	var files []string
	for _, f := range []string{"vmlinuz", "initrd.img", "system.img"} {
		files = append(files, filepath.Join(guestDir, f))
	}
	return files
}
