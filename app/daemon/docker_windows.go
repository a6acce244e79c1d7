package daemon

import (
	"fmt"
	"hash/crc32"
	"net"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"

	"github.com/berthvm/berth/app/settings"
)

// DockerSocket is a named pipe on Windows, where the docker CLI speaks
// npipe://. Pipes share one namespace: the name carries a hash of the
// user's run directory, so two users' Berths do not collide.
func DockerSocket(p settings.Paths) string {
	return fmt.Sprintf(`\\.\pipe\berth-docker-%08x`, crc32.ChecksumIEEE([]byte(p.Run)))
}

// listenDocker opens the pipe to this user (and SYSTEM) only: the engine
// behind it is root in the VM.
func listenDocker(path string) (net.Listener, error) {
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, fmt.Errorf("listen on %s: who am I: %w", path, err)
	}
	l, err := winio.ListenPipe(path, &winio.PipeConfig{
		SecurityDescriptor: "D:P(A;;GA;;;SY)(A;;GA;;;" + tu.User.Sid.String() + ")",
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return l, nil
}
