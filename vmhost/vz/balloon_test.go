package vz

import (
	"fmt"
	"strings"
	"testing"
)

// balloonVM is a running fakeVM with a balloon that refuses what the
// framework refuses (Apple's reference for targetVirtualMachineMemorySize:
// whole MiB, at most memorySize). The framework raises an Objective-C
// exception there, which would end the daemon: the fake fails the test.
type balloonVM struct {
	fakeVM
	t      *testing.T
	memory uint64
	target uint64
}

func (b *balloonVM) memorySize() uint64 { return b.memory }

// Start runs it at once.
func (b *balloonVM) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.state = stRunning
	return nil
}

func (b *balloonVM) setBalloonTarget(bytes uint64) error {
	if bytes%(1<<20) != 0 || bytes > b.memory {
		b.t.Errorf("the framework was given a target of %d bytes in a VM of %d: it raises", bytes, b.memory)
		return fmt.Errorf("refused %d", bytes)
	}
	b.target = bytes
	return nil
}

func TestBalloonTarget(t *testing.T) {
	const mem = 4 << 30
	for _, tc := range []struct {
		want, got uint64
	}{
		{1 << 30, 1 << 30},
		{1<<30 + 1, 1<<30 + mib}, // up to a whole MiB
		{1<<30 - 1, 1 << 30},     // up to a whole MiB
		{5 << 30, mem},           // at most memorySize
		{mem + 1, mem},           // at most memorySize
		{^uint64(0), mem},        // no overflow
		{1, mib},                 // the smallest target
	} {
		got, err := balloonTarget(tc.want, mem)
		if err != nil || got != tc.got {
			t.Errorf("balloonTarget(%d) = %d, %v; want %d", tc.want, got, err, tc.got)
		}
	}
	if _, err := balloonTarget(0, mem); err == nil {
		t.Error("a target of 0: no error")
	}
	if _, err := balloonTarget(mib, mib-1); err == nil {
		t.Error("a VM under 1 MiB: no error")
	}
	// A memorySize that is not whole MiB (vz itself refuses one) caps at
	// its whole MiB.
	if got, _ := balloonTarget(3<<30, 2<<30+5); got != 2<<30 {
		t.Errorf("capped at %d", got)
	}
}

func TestSetMemoryTarget(t *testing.T) {
	var ms machines
	v := &balloonVM{t: t, memory: 2 << 30}
	if err := ms.start("berth", func() (startable, func(), error) { return v, func() {}, nil }); err != nil {
		t.Fatal(err)
	}
	for _, want := range []uint64{1<<30 + 12345, 3 << 30, 1} {
		if err := ms.setMemoryTarget("berth", want); err != nil {
			t.Fatalf("%d: %v", want, err)
		}
		if exp, _ := balloonTarget(want, v.memory); v.target != exp {
			t.Fatalf("%d: the balloon was set to %d, want %d", want, v.target, exp)
		}
	}
	if err := ms.setMemoryTarget("other", 1<<30); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("unknown machine: %v", err)
	}
	v.mu.Lock()
	v.state = stPaused
	v.mu.Unlock()
	before := v.target
	if err := ms.setMemoryTarget("berth", 1<<30); err == nil || v.target != before {
		t.Errorf("a paused VM's balloon was set: %v", err)
	}

	// A VM without a balloon (the fake's plain VM) is refused, not
	// called.
	var plain machines
	if err := plain.start("berth", func() (startable, func(), error) { return startNow{&fakeVM{}}, func() {}, nil }); err != nil {
		t.Fatal(err)
	}
	if err := plain.setMemoryTarget("berth", 1<<30); err == nil || !strings.Contains(err.Error(), "no memory balloon") {
		t.Errorf("no balloon: %v", err)
	}
}
