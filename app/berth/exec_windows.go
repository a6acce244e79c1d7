package main

import (
	"errors"
	"os"
	"os/exec"
)

// runInstead runs path in this console and exits with its status (Windows
// cannot replace a running process).
func runInstead(path string, args []string) error {
	cmd := exec.Command(path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	var exit *exec.ExitError
	if err := cmd.Run(); errors.As(err, &exit) {
		os.Exit(exit.ExitCode()) // berth-gui has said what went wrong
	} else if err != nil {
		return err
	}
	return nil
}
