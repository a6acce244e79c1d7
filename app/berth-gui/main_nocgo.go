//go:build !cgo

// Command berth-gui without cgo only says that it needs cgo.
package main

import (
	"fmt"
	"os"
)

// fyne's window (GLFW) needs cgo and the platform's OpenGL headers.
func main() {
	fmt.Fprintln(os.Stderr, "berth gui: this build has no GUI: build it with cgo (`make`, CGO_ENABLED=1 and a C compiler)")
	os.Exit(1)
}
