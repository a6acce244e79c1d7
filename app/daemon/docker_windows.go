package daemon

import (
	"fmt"
	"net"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"
)

// listenDocker opens the docker API's pipe (dockerPipeConfig) for this
// user.
func listenDocker(path string) (net.Listener, error) {
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, fmt.Errorf("listen on %s: who am I: %w", path, err)
	}
	c := winio.PipeConfig(dockerPipeConfig(tu.User.Sid.String()))
	l, err := winio.ListenPipe(path, &c)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return l, nil
}
