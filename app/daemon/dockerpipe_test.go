package daemon

import (
	"slices"
	"strings"
	"testing"
)

// go-winio half-closes a pipe (CloseWrite) with a zero-byte message, which
// only a message-mode pipe delivers: in byte mode stdin's end never reaches
// the engine. moby's npipe listener uses message mode with 64 KiB buffers.
func TestDockerPipeCarriesHalfClose(t *testing.T) {
	c := dockerPipeConfig("S-1-5-21-1-2-3-1001")
	if !c.MessageMode {
		t.Error("the docker pipe is in byte mode: CloseWrite would not reach the engine")
	}
	if c.InputBufferSize != 64<<10 || c.OutputBufferSize != 64<<10 {
		t.Errorf("buffers %d/%d, want 64 KiB each", c.InputBufferSize, c.OutputBufferSize)
	}
	if want := "D:P(A;;GA;;;SY)(A;;GA;;;S-1-5-21-1-2-3-1001)"; c.SecurityDescriptor != want {
		t.Errorf("security descriptor %q, want %q", c.SecurityDescriptor, want)
	}
}

// The control socket on Windows is a file whose access is its DACL: this
// user, SYSTEM and elevated administrators (the installer's clean stop),
// nobody else, and nothing inherited from the folder.
func TestControlSocketIsPrivate(t *testing.T) {
	const user = "S-1-5-21-1-2-3-1001"
	sddl := controlSocketSDDL(user)
	if !strings.HasPrefix(sddl, "D:P(") {
		t.Fatalf("%q: not a protected DACL", sddl)
	}
	var who []string
	for _, ace := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(sddl, "D:P("), ")"), ")(") {
		f := strings.Split(ace, ";")
		if len(f) != 6 || f[0] != "A" {
			t.Fatalf("ACE %q is not an allow entry", ace)
		}
		who = append(who, f[5])
	}
	slices.Sort(who)
	if want := []string{"BA", user, "SY"}; !slices.Equal(who, want) {
		t.Errorf("granted to %v, want %v", who, want)
	}
}
