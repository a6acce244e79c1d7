package daemon

import "testing"

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
