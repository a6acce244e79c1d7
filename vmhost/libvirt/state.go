package libvirt

import (
	"fmt"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/berthvm/berth/vmhost"
)

// stateOf maps libvirt's domain state, and its reason, to the daemon's.
func stateOf(s golibvirt.DomainState, reason int32) vmhost.State {
	switch s {
	case golibvirt.DomainRunning, golibvirt.DomainBlocked, golibvirt.DomainShutdown:
		return vmhost.Running
	case golibvirt.DomainPaused:
		if golibvirt.DomainPausedReason(reason) == golibvirt.DomainPausedUser {
			return vmhost.Suspended
		}
		return vmhost.Paused
	case golibvirt.DomainPmsuspended:
		return vmhost.Paused
	case golibvirt.DomainCrashed:
		return vmhost.Crashed
	default:
		return vmhost.Stopped
	}
}

// reasonOf names libvirt's state reasons that matter here.
func reasonOf(s golibvirt.DomainState, r int32) string {
	switch s {
	case golibvirt.DomainPaused:
		switch golibvirt.DomainPausedReason(r) {
		case golibvirt.DomainPausedIoerror:
			return "paused on an I/O error (a full disk on the host?)"
		case golibvirt.DomainPausedUser:
			return "paused by a user"
		case golibvirt.DomainPausedCrashed:
			return "paused after the guest crashed"
		case golibvirt.DomainPausedUnknown:
			return "paused for an unknown reason, as QEMU does on a KVM internal error"
		}
		return fmt.Sprintf("paused (reason %d)", r)
	case golibvirt.DomainShutoff:
		switch golibvirt.DomainShutoffReason(r) {
		case golibvirt.DomainShutoffCrashed:
			return "QEMU crashed"
		case golibvirt.DomainShutoffShutdown:
			return "the guest powered off"
		case golibvirt.DomainShutoffDestroyed:
			return "destroyed"
		case golibvirt.DomainShutoffFailed:
			return "QEMU failed to start"
		}
		return "shut off"
	case golibvirt.DomainCrashed:
		return "crashed"
	}
	return "running"
}

// eventState maps a lifecycle event to the state it leaves the domain in;
// ok is false for events that change no state (defined, undefined).
func eventState(e golibvirt.DomainEventType) (vmhost.State, bool) {
	switch e {
	case golibvirt.DomainEventStarted, golibvirt.DomainEventResumed:
		return vmhost.Running, true
	case golibvirt.DomainEventSuspended, golibvirt.DomainEventPmsuspended:
		return vmhost.Paused, true
	case golibvirt.DomainEventStopped:
		return vmhost.Stopped, true
	case golibvirt.DomainEventCrashed:
		return vmhost.Crashed, true
	}
	return "", false
}
