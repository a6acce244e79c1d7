package vz

import (
	"errors"
	"fmt"
)

// The framework has one memory balloon, the traditional virtio one
// (VZVirtioTraditionalMemoryBalloonDevice): no free page reporting, and it
// moves only when its targetVirtualMachineMemorySize is set. Every machine
// gets one (plan.Balloon) and the daemon sets its target from the guest's
// use (vmhost/balloon, through Backend.SetMemoryTarget).

const mib = 1 << 20

// ballooner is a VM whose balloon can be given a target: vz_darwin.go's
// adapter, or a test's fake.
type ballooner interface {
	// memorySize is the VM's configured memory (VZVirtualMachineConfiguration's
	// memorySize), in bytes.
	memorySize() uint64
	// setBalloonTarget sets targetVirtualMachineMemorySize as it is: the
	// framework takes no error back, and raises on a target it refuses.
	setBalloonTarget(bytes uint64) error
}

// balloonTarget is the target the framework is given for want bytes in a
// VM of memorySize. Apple's reference for targetVirtualMachineMemorySize
// (developer.apple.com/documentation/virtualization/vzvirtiotraditionalmemoryballoondevice/targetvirtualmachinememorysize):
// a multiple of 1 MiB (1024 * 1024 bytes), and at most the configuration's
// memorySize. want is rounded up to a whole MiB (the guest gets no less
// than asked) and capped at memorySize's whole MiB.
func balloonTarget(want, memorySize uint64) (uint64, error) {
	limit := memorySize &^ (mib - 1)
	if limit == 0 {
		return 0, fmt.Errorf("memory balloon: the VM has %d bytes of memory, under 1 MiB", memorySize)
	}
	if want == 0 {
		return 0, errors.New("memory balloon: a target of 0 bytes")
	}
	up := (want + mib - 1) &^ (mib - 1)
	if up < want { // overflow
		up = limit
	}
	return min(up, limit), nil
}

// setMemoryTarget sets the balloon of name's running VM for want bytes.
// The framework is never called but for a running VM, and with a target
// it takes (balloonTarget).
func (ms *machines) setMemoryTarget(name string, want uint64) error {
	ms.mu.Lock()
	var v startable
	if m, ok := ms.vms[name]; ok && !m.starting {
		v = m.vm
	}
	ms.mu.Unlock()
	if v == nil || v.State() != stRunning {
		return fmt.Errorf("memory target of vm %q: it is not running", name)
	}
	b, ok := v.(ballooner)
	if !ok {
		return fmt.Errorf("memory target of vm %q: it has no memory balloon", name)
	}
	t, err := balloonTarget(want, b.memorySize())
	if err != nil {
		return fmt.Errorf("memory target of vm %q: %w", name, err)
	}
	if err := b.setBalloonTarget(t); err != nil {
		return fmt.Errorf("memory target of vm %q: %w", name, err)
	}
	return nil
}
