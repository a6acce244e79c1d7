//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/berthvm/berth/guestd/protocol"
)

// serveShell upgrades the request to a raw stream joined to a shell (or the
// ?cmd= arguments) in the guest: `berth shell`, for debugging. With ?tty=1 it
// runs on a pty of ?rows= by ?cols=.
func (g *guest) serveShell(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != protocol.ShellProtocol {
		http.Error(w, "want Upgrade: "+protocol.ShellProtocol, http.StatusUpgradeRequired)
		return
	}
	q := r.URL.Query()
	args := q["cmd"]
	if len(args) == 0 {
		args = []string{"/bin/bash", "-l"}
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/root", "TERM=" + termName(q.Get("term")), "LANG=C.UTF-8"}
	cmd.Dir = "/root"
	os.MkdirAll("/root", 0o700) //nolint:errcheck // the shell starts elsewhere if /root cannot be made

	var in io.Writer
	var out io.Reader
	var closeIO func()
	if q.Get("tty") == "1" {
		rows, _ := strconv.Atoi(q.Get("rows"))
		cols, _ := strconv.Atoi(q.Get("cols"))
		ptmx, tty, err := pty.Open()
		if err != nil {
			http.Error(w, "open pty: "+err.Error(), http.StatusInternalServerError)
			return
		}
		if rows > 0 && cols > 0 {
			pty.Setsize(ptmx, &pty.Winsize{Rows: uint16(rows), Cols: uint16(cols)}) //nolint:errcheck // a terminal size that fails leaves the default
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		in, out = ptmx, ptmx
		closeIO = func() { tty.Close() }
		defer ptmx.Close()
	} else {
		inR, inW, err := os.Pipe()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		outR, outW, err := os.Pipe()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, outW
		in, out = inW, outR
		closeIO = func() { inR.Close(); outW.Close() }
		defer inW.Close()
		defer outR.Close()
	}
	p, err := g.reaper.Start(cmd)
	closeIO() // the child holds its ends
	if err != nil {
		http.Error(w, fmt.Sprintf("start %s: %v", args[0], err), http.StatusBadRequest)
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		p.Signal(unix.SIGKILL) //nolint:errcheck // the process may be gone; Wait reports it
		return
	}
	defer conn.Close()
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", protocol.ShellProtocol)
	rw.Flush() //nolint:errcheck // a client that went away
	go func() {
		io.Copy(in, rw.Reader) // buffered bytes first, then the connection
		if c, ok := in.(io.Closer); ok && q.Get("tty") != "1" {
			c.Close() // EOF on stdin for a command
		}
	}()
	io.Copy(conn, out)
	p.Signal(unix.SIGHUP)        //nolint:errcheck // the process may be gone; Wait reports it
	p.Wait(context.Background()) //nolint:errcheck // reaping only: its status is not asked for
}

func termName(t string) string {
	if t == "" {
		return "xterm"
	}
	return t
}
