//go:build linux

package shares

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berthvm/berth/guestd/protocol"
)

type call struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
}

func fakeMounter(fail map[string]error, missingModules map[string]bool) (*Mounter, *[]call) {
	var calls []call
	m := &Mounter{
		Load: func(name string) error {
			if missingModules[name] {
				return errors.New("module " + name + " not found")
			}
			return nil
		},
		Log: slog.New(slog.DiscardHandler),
		mount: func(source, target, fstype string, flags uintptr, data string) error {
			calls = append(calls, call{source, target, fstype, flags, data})
			return fail[fstype]
		},
	}
	return m, &calls
}

func TestMountPrefersVirtiofs(t *testing.T) {
	m, calls := fakeMounter(nil, nil)
	dir := filepath.Join(t.TempDir(), "a b")
	fs, err := m.Mount(protocol.Share{Tag: "berth0", Path: dir, ReadOnly: true})
	if err != nil || fs != "virtiofs" {
		t.Fatalf("got %q, %v", fs, err)
	}
	if len(*calls) != 1 || (*calls)[0] != (call{"berth0", dir, "virtiofs", unix.MS_RDONLY, ""}) {
		t.Fatalf("calls %+v", *calls)
	}
}

func TestMountFallsBackTo9p(t *testing.T) {
	m, calls := fakeMounter(map[string]error{"virtiofs": unix.ENOENT}, nil)
	fs, err := m.Mount(protocol.Share{Tag: "berth1", Path: t.TempDir()})
	if err != nil || fs != "9p" {
		t.Fatalf("got %q, %v", fs, err)
	}
	if c := (*calls)[1]; c.fstype != "9p" || c.flags != 0 || !strings.Contains(c.data, "trans=virtio") {
		t.Fatalf("9p call %+v", c)
	}
}

// A share served over vsock (Hyper-V) is 9p with the connection as the
// kernel's transport, whatever virtiofs would do.
func TestMountOverVsock(t *testing.T) {
	m, calls := fakeMounter(nil, nil)
	var dialed uint32
	var conn *os.File
	m.dial = func(port uint32) (*os.File, error) {
		dialed = port
		r, w, err := os.Pipe()
		w.Close()
		conn = r
		return r, err
	}
	dir := t.TempDir()
	fs, err := m.Mount(protocol.Share{Tag: "berth0", Path: dir, ReadOnly: true, VsockPort: 1100})
	if err != nil || fs != "9p" || dialed != 1100 {
		t.Fatalf("got %q, %v; dialed %d", fs, err, dialed)
	}
	fd := conn.Fd() // -1 once closed: the kernel holds its own reference
	want := call{"berth0", dir, "9p", unix.MS_RDONLY, ""}
	if len(*calls) != 1 || fd != ^uintptr(0) {
		t.Fatalf("calls %+v, our descriptor %d after the mount", *calls, fd)
	}
	got := (*calls)[0]
	data := got.data
	got.data = ""
	if got != want || !strings.HasPrefix(data, "trans=fd,rfdno=") || !strings.Contains(data, "version=9p2000.L") {
		t.Fatalf("call %+v data %q", got, data)
	}
	m.dial = func(uint32) (*os.File, error) { return nil, errors.New("connection refused") }
	if _, err := m.Mount(protocol.Share{Tag: "berth0", Path: dir, VsockPort: 1100}); err == nil || !strings.Contains(err.Error(), "vsock port 1100): connection refused") {
		t.Fatalf("err = %v", err)
	}
}

func TestMountSaysWhatFailed(t *testing.T) {
	m, _ := fakeMounter(map[string]error{"virtiofs": unix.ENOENT}, map[string]bool{"9p": true})
	_, err := m.Mount(protocol.Share{Tag: "berth2", Path: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "virtiofs: no such file") || !strings.Contains(err.Error(), "module 9p not found") {
		t.Fatalf("error %v", err)
	}
}
