//go:build linux

// Package netnstest gives a test a network namespace of its own, for
// tests that make links, addresses and firewall rules as a guest would.
package netnstest

import (
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
)

// Enter moves the calling test's goroutine, locked to its thread, into a
// new network namespace until the test ends. It skips the test where
// namespaces cannot be made (not root). Goroutines the test starts stay
// in the original namespace; sockets and devices made on this goroutine
// belong to the new one. It returns the namespace's handle.
func Enter(t *testing.T) netns.NsHandle {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	ns, err := netns.New() // this thread is now in it
	if err != nil {
		orig.Close() //nolint:errcheck // test tooling: cleanup on an error path
		runtime.UnlockOSThread()
		t.Skipf("cannot create a network namespace: %v", err)
	}
	t.Cleanup(func() {
		netns.Set(orig) //nolint:errcheck // test tooling: the thread is locked and dropped
		ns.Close()      //nolint:errcheck // test tooling: cleanup
		orig.Close()    //nolint:errcheck // test tooling: cleanup
		runtime.UnlockOSThread()
	})
	return ns
}
