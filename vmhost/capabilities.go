package vmhost

import "context"

// The opt-in interfaces: what a backend may do beyond Backend, each found
// by a type assertion where it is used.
//
//   - Diagnoser: says why a machine is in its state (libvirt).
//   - Resumer: resumes a machine paused on a full host disk (libvirt).
//   - GuestFiler: boots from guest files of its own (hyperv).
//   - DiskFormatter: takes a disk format of its own (hyperv).
//   - Ballooner: its guest's memory is sized by the daemon (vz).
//
// Each backend asserts, in one var block beside its Backend type, every
// interface it implements.

// Diagnoser is a backend that can say, from the hypervisor's own records,
// why a machine is in its state: the daemon shows it when a VM pauses or
// stops by itself.
type Diagnoser interface {
	Diagnose(ctx context.Context, name string) string
}

// Resumer is a backend whose hypervisor pauses a machine when the host
// cannot write its disks (QEMU's werror=enospc: a full host disk), rather
// than failing the guest's writes, and can resume it once there is room:
// nothing the guest wrote is lost.
type Resumer interface {
	// PausedOnIOError says whether the machine is paused on a disk write
	// error.
	PausedOnIOError(ctx context.Context, name string) (bool, error)
	Resume(ctx context.Context, name string) error
}

// GuestFiler is a backend that boots from files of its own in the guest
// image (Hyper-V: VHDX disks), so an installed guest image may hold only
// those rather than the kernel, initrd and system image the others boot.
type GuestFiler interface {
	GuestFiles(guestDir string) []string
}

// DiskFormatter is a backend whose hypervisor takes a disk format of its
// own (Hyper-V: VHDX); the others take RawDisk.
type DiskFormatter interface {
	DiskFile() DiskFile
}

// Ballooner is a backend whose hypervisor gives a guest's unused memory
// back only when told how much to leave it (vz: the traditional virtio
// balloon, nothing else): the daemon sets the target from the guest's use
// (vmhost/balloon). libvirt's guests report free pages themselves and
// Hyper-V's Dynamic Memory sizes its guests by itself: neither is one.
type Ballooner interface {
	// SetMemoryTarget asks the running machine's balloon to leave the
	// guest bytes of memory, at most its configured memory.
	SetMemoryTarget(ctx context.Context, name string, bytes uint64) error
}
