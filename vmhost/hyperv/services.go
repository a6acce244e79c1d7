package hyperv

import "fmt"

// ServicesKey is where hvsock services are registered, under
// HKEY_LOCAL_MACHINE; a VM may only connect to a service that has a key
// here.
const ServicesKey = `SOFTWARE\Microsoft\Windows NT\CurrentVersion\Virtualization\GuestCommunicationServices`

// ServiceKey is one service's registry key and the name shown for it.
type ServiceKey struct {
	Port uint32
	Key  string // under HKEY_LOCAL_MACHINE
	Name string // its ElementName value
}

// ServiceKeys are the keys `berth setup` adds and `berth setup --undo`
// removes, one per port in Services.
func ServiceKeys() []ServiceKey {
	var keys []ServiceKey
	for _, p := range Services() {
		keys = append(keys, ServiceKey{Port: p, Key: ServicesKey + `\` + ServiceID(p), Name: fmt.Sprintf("Berth vsock port %d", p)})
	}
	return keys
}
