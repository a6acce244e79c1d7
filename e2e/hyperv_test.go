//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/vmhost/hyperv"
)

// Hyper-V cannot run here, but its boot path can: EDK2 (OVMF), the
// firmware family of Hyper-V's Generation 2 VMs, boots the image's
// boot.vhdx with system.vhdx on SCSI at the LUN the Hyper-V backend gives
// it. The EFI program must start the kernel with its built-in command
// line; guestd must find the system disk by LUN, switch to it, and ask the
// host for the machine's options over vsock, and stop, saying so, when it
// cannot have them: QEMU has no Hyper-V sockets.
func TestHyperVBootDisk(t *testing.T) {
	dir := os.Getenv("BERTH_GUEST_DIR_GENERIC")
	if dir == "" {
		t.Skip("BERTH_GUEST_DIR_GENERIC is not set: run `make e2e`")
	}
	boot, system := hyperv.Disks(dir)
	tmp := t.TempDir()
	vars := filepath.Join(tmp, "vars.fd")
	b, err := os.ReadFile("/usr/share/OVMF/OVMF_VARS_4M.fd")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vars, b, 0o600); err != nil {
		t.Fatal(err)
	}
	console := filepath.Join(tmp, "console.log")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	qemu := exec.CommandContext(ctx, "qemu-system-x86_64",
		"-machine", "q35", "-accel", "tcg", "-m", "1024", "-smp", "2", "-nodefaults", "-display", "none",
		"-drive", "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
		"-drive", "if=pflash,format=raw,file="+vars,
		"-device", "virtio-scsi-pci,id=scsi",
		"-drive", "if=none,id=boot,format=vhdx,readonly=on,file="+boot,
		"-device", "scsi-hd,drive=boot,bus=scsi.0,lun=0",
		"-drive", "if=none,id=system,format=vhdx,readonly=on,file="+system,
		"-device", "scsi-hd,drive=system,bus=scsi.0,lun=1",
		"-serial", "file:"+console)
	qemu.Stdout, qemu.Stderr = os.Stderr, os.Stderr
	if err := qemu.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { qemu.Process.Kill(); qemu.Wait() }()

	// Each milestone, in order, as guestd logs it on the console.
	var at []string
	for _, m := range []struct{ what, line string }{
		{"EFI program → guestd in the initrd, system disk found by LUN and mounted", "system image mounted"},
		{"the system image's guestd asks the host for its options over vsock, and stops when it cannot have them", protocol.FatalMarker + "the machine's options from the host (vsock port 1024"},
	} {
		for !bytes.Contains(readFile(console), []byte(m.line)) {
			if ctx.Err() != nil {
				dumpSerial(t, console)
				t.Fatalf("no %q on the console: %s did not happen", m.line, m.what)
			}
			time.Sleep(200 * time.Millisecond)
		}
		at = append(at, fmt.Sprintf("%s: %.1fs", m.what, time.Since(start).Seconds()))
	}
	dumpSerial(t, console)
	for _, a := range at {
		t.Log(a)
	}
}

func readFile(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}
