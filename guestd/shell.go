//go:build linux

package main

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"time"

	"github.com/berthvm/berth/guestd/reaper"
	"golang.org/x/sys/unix"
)

// shellLoop keeps a root shell on the console (berth.debug=shell), a new one
// whenever the last exits. With no reaper (the initrd failed) it runs the
// shell directly.
func shellLoop(log *slog.Logger, r *reaper.Reaper) {
	for {
		tty, err := os.OpenFile("/dev/console", os.O_RDWR, 0)
		if err != nil {
			log.Error("debug shell: no console", "err", err)
			return
		}
		cmd := exec.Command("/bin/sh", "-l")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=linux", "HOME=/root"}
		// Own session with the console as controlling terminal, so ^C works.
		cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		log.Info("debug shell on the console")
		if r != nil {
			err = r.Run(context.Background(), cmd)
		} else {
			err = cmd.Run()
		}
		tty.Close()
		if err != nil {
			log.Warn("debug shell exited", "err", err)
			time.Sleep(time.Second)
		}
	}
}
