//go:build unix

package main

import (
	"os"
	"syscall"
)

// runInstead replaces this process with path, so signals and the exit
// status are the other program's own.
func runInstead(path string, args []string) error {
	return syscall.Exec(path, append([]string{path}, args...), os.Environ())
}
