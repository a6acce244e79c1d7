package vz

import (
	"errors"
	"fmt"
	"sync"

	"github.com/berthvm/berth/vmhost"
)

// startable is a VM that can also be started: *vz.VirtualMachine through
// vz_darwin.go's adapter, or a test's fake.
type startable interface {
	vm
	Start() error
}

// machine is one named VM. Its fields are guarded by the owning
// machines' lock; the VM's own calls are never made under it.
type machine struct {
	vm startable // nil while the machine is being built
	// release ends the NIC's link and the following of the VM's states;
	// once the VM is down, or was never started.
	release func()
	// starting is true from the moment the name is taken until the
	// framework's Start returns; killed, when a Kill or Delete came in
	// meanwhile: the start then ends with the VM stopped (and forgotten,
	// when deleted).
	starting, killed, deleted bool
}

// errKilledWhileStarting ends a start that a Kill or Delete overtook.
var errKilledWhileStarting = errors.New("it was stopped while it was starting")

// machines is the backend's table of VMs and the rules for starting and
// stopping them, in plain Go so that they run against fakes everywhere.
//
// The framework's Start blocks until the VM runs (or fails), and has been
// seen to hang; its lock is therefore never held across it, nor across any
// other call into the framework, so Kill, Delete, State and Close answer
// at once while a start is under way. A machine's name is taken under the
// lock before the build (a second Start is refused), and given back if the
// start fails.
type machines struct {
	mu  sync.Mutex
	vms map[string]*machine
}

// start takes name, builds its VM with build (outside the lock) and starts
// it. build returns the VM and the function that releases what it holds
// (network link, state follower); start calls that release when the VM
// does not end up running.
func (ms *machines) start(name string, build func() (startable, func(), error)) error {
	m := &machine{starting: true, release: func() {}}
	ms.mu.Lock()
	if ms.vms == nil {
		ms.vms = map[string]*machine{}
	}
	if old, ok := ms.vms[name]; ok {
		switch {
		case old.starting:
			ms.mu.Unlock()
			return fmt.Errorf("start vm %q: it is already starting", name)
		case !down(old.vm.State()):
			ms.mu.Unlock()
			return fmt.Errorf("start vm %q: it is already running", name)
		}
		old.release()
	}
	ms.vms[name] = m
	ms.mu.Unlock()

	v, release, err := build()
	if err != nil {
		ms.forget(name, m)
		return fmt.Errorf("start vm %q: %w", name, err)
	}
	ms.mu.Lock()
	m.vm, m.release = v, release
	killed := m.killed
	ms.mu.Unlock()
	if killed {
		release()
		ms.forget(name, m)
		return fmt.Errorf("start vm %q: %w", name, errKilledWhileStarting)
	}

	err = v.Start() // blocks: no lock held

	ms.mu.Lock()
	m.starting = false
	killed = m.killed
	deleted := m.deleted
	ms.mu.Unlock()
	if err != nil {
		release()
		ms.forget(name, m)
		return fmt.Errorf("start vm %q: %w", name, err)
	}
	if killed {
		// The plug a Kill could not pull while the framework was starting.
		if herr := halt(v); herr != nil {
			return fmt.Errorf("start vm %q: %w, and stopping it then failed: %v", name, errKilledWhileStarting, herr)
		}
		release()
		if deleted {
			ms.forget(name, m)
		}
		return fmt.Errorf("start vm %q: %w", name, errKilledWhileStarting)
	}
	return nil
}

// forget removes name's entry if it is still m.
func (ms *machines) forget(name string, m *machine) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.vms[name] == m {
		delete(ms.vms, name)
	}
}

// kill pulls the plug on name's VM. While a start is under way the
// framework cannot stop the VM (it stops only what runs or is paused):
// the start is marked killed, and stops the VM the moment the framework
// hands it back, so kill returns at once and the start ends stopped.
func (ms *machines) kill(name string) error {
	ms.mu.Lock()
	m, ok := ms.vms[name]
	if !ok {
		ms.mu.Unlock()
		return nil // nothing runs
	}
	if m.starting {
		m.killed = true
		ms.mu.Unlock()
		return nil
	}
	v := m.vm
	ms.mu.Unlock()
	if err := halt(v); err != nil {
		return fmt.Errorf("stop vm %q: %w", name, err)
	}
	return nil
}

// state is name's state; NotFound before it was started. A start that was
// killed reads as stopped: it will end so, and nothing of it may be used.
func (ms *machines) state(name string) vmhost.State {
	ms.mu.Lock()
	m, ok := ms.vms[name]
	var v startable
	if ok {
		if m.starting && m.killed {
			ms.mu.Unlock()
			return vmhost.Stopped
		}
		v = m.vm
	}
	ms.mu.Unlock()
	switch {
	case !ok:
		return vmhost.NotFound
	case v == nil: // being built
		return vmhost.Stopped
	}
	return hostState(v.State())
}

// delete stops name's VM if it runs and forgets it. A start under way is
// killed, and forgets the machine itself when it ends: until then the name
// stays taken, so no second VM opens the same disks beside it.
func (ms *machines) delete(name string) error {
	ms.mu.Lock()
	m, ok := ms.vms[name]
	if !ok {
		ms.mu.Unlock()
		return nil
	}
	if m.starting {
		m.killed, m.deleted = true, true
		ms.mu.Unlock()
		return nil
	}
	v := m.vm
	ms.mu.Unlock()
	if err := halt(v); err != nil {
		return fmt.Errorf("delete vm %q: %w", name, err)
	}
	m.release()
	ms.forget(name, m)
	return nil
}

// close deletes every machine: they cannot outlive this process.
func (ms *machines) close() error {
	ms.mu.Lock()
	names := make([]string, 0, len(ms.vms))
	for n := range ms.vms {
		names = append(names, n)
	}
	ms.mu.Unlock()
	var errs []error
	for _, n := range names {
		errs = append(errs, ms.delete(n))
	}
	return errors.Join(errs...)
}
