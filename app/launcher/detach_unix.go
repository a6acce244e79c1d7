//go:build unix

package launcher

import (
	"os/exec"
	"syscall"
)

// detach gives cmd its own session, away from the terminal's signals.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }
