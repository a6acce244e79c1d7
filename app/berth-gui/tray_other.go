//go:build cgo && !linux

package main

// hasTray: macOS' menu bar and Windows' notification area are always there.
func hasTray() bool { return true }
