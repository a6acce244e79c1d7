package hyperv

import (
	"strings"
	"testing"
)

// The keys setup adds are the keys --undo removes: one per service port,
// each directly under Hyper-V's services key and named by the port's GUID.
func TestServiceKeys(t *testing.T) {
	keys := ServiceKeys()
	if len(keys) != len(Services()) {
		t.Fatalf("%d keys for %d services", len(keys), len(Services()))
	}
	seen := map[string]bool{}
	for i, k := range keys {
		if k.Port != Services()[i] {
			t.Errorf("key %d is for port %d, want %d", i, k.Port, Services()[i])
		}
		want := `SOFTWARE\Microsoft\Windows NT\CurrentVersion\Virtualization\GuestCommunicationServices\` + ServiceID(k.Port)
		if k.Key != want {
			t.Errorf("port %d: key %s, want %s", k.Port, k.Key, want)
		}
		if seen[strings.ToLower(k.Key)] {
			t.Errorf("key %s twice", k.Key)
		}
		seen[strings.ToLower(k.Key)] = true
		if !strings.HasPrefix(k.Name, "Berth ") {
			t.Errorf("port %d: name %q does not say it is Berth's", k.Port, k.Name)
		}
	}
	if keys[0].Key != ServicesKey+`\00000400-facb-11e6-bd58-64006a7986d3` {
		t.Errorf("first key %s, want the config port's (1024)", keys[0].Key)
	}
}
