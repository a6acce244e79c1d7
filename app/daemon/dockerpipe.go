package daemon

// pipeConfig is go-winio's PipeConfig, field for field (docker_windows.go
// converts one to the other, which fails to compile if they drift), so
// the docker pipe's settings are decided and tested on every OS.
type pipeConfig struct {
	SecurityDescriptor string
	MessageMode        bool
	InputBufferSize    int32
	OutputBufferSize   int32
}

// dockerPipeConfig is the docker API's named pipe for the user userSID,
// made as moby's own npipe listener makes it. Message mode is what carries
// a half-close: go-winio's CloseWrite sends a zero-byte message, which a
// byte-mode pipe drops, so `docker run -i` and `docker exec -i` would never
// see the end of their input. Only this user (and SYSTEM) may open it: the
// engine behind it is root in the VM.
func dockerPipeConfig(userSID string) pipeConfig {
	return pipeConfig{
		SecurityDescriptor: "D:P(A;;GA;;;SY)(A;;GA;;;" + userSID + ")",
		MessageMode:        true,
		InputBufferSize:    64 << 10,
		OutputBufferSize:   64 << 10,
	}
}

// controlSocketSDDL is the access a Windows control socket (AF_UNIX, a
// file to Windows: a chmod there is refused or ignored) gets: this user,
// SYSTEM, and elevated administrators, who may already do anything to
// the computer and whose installer stops every user's Berth cleanly
// before an upgrade (Administrators is deny-only in an unelevated token,
// so another user's ordinary process gets nothing). Protected (P): no
// access is inherited from the folder.
func controlSocketSDDL(userSID string) string {
	return "D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;" + userSID + ")"
}
