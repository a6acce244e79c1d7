package libvirt

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// kvmProbe starts QEMU itself on KVM with one vCPU and a few bytes of guest
// code that write one byte to the serial port, and waits for that byte. It
// catches, in about a second, the two kinds of broken KVM that booting
// through libvirt finds only in seconds (the domain's setup and cleanup) or
// in kvmLifeBound (20 s of a silent console), on every first start after
// the host boots:
//   - /dev/kvm opens but QEMU cannot set up a vCPU (nested hosts that
//     refuse the CPU's MSRs): QEMU aborts within a tenth of a second;
//   - QEMU starts the vCPU but the guest never runs: no byte comes.
//
// The boot still watches the real guest for anything else (kvmLife).
type kvmProbe struct {
	QEMU    string // the emulator; "" skips the probe
	Machine string // q35, or virt on arm64
	// Firmware is the guest code, a -bios image; nil (no payload for this
	// architecture) checks the vCPU's setup only.
	Firmware []byte
	// GuestBound is how long the guest may take to write its byte once
	// its vCPU runs: a working KVM takes microseconds, emulation
	// milliseconds.
	GuestBound time.Duration
	Timeout    time.Duration // past it the probe has no verdict
	// Accel is QEMU's accelerator: "" is KVM; "tcg" lets a test prove the
	// payload on any host.
	Accel string
}

// probeFirmware is a 64 KiB x86 firmware image whose reset vector (the
// first instruction a PC runs, 16 bytes below 4 GiB, in real mode) writes
// 'K' to COM1 and halts; nil for other architectures.
func probeFirmware(arch string) []byte {
	if arch != "x86_64" {
		return nil
	}
	img := bytes.Repeat([]byte{0xf4}, 64<<10) // hlt everywhere else
	copy(img[len(img)-16:], []byte{
		0xba, 0xf8, 0x03, // mov dx, 0x3f8
		0xb0, 'K', // mov al, 'K'
		0xee,       // out dx, al
		0xf4,       // hlt
		0xeb, 0xfd, // jmp back to the hlt
	})
	return img
}

// run returns why KVM does not work, or "" when the guest code ran (or the
// vCPU came up, without firmware) or the probe could not tell: QEMU
// missing, slow, or failing for a reason that does not name KVM (the boot
// then finds out). err is a probe that could not be set up.
func (p kvmProbe) run(ctx context.Context) (why string, err error) {
	if p.QEMU == "" {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	q, err := p.start(ctx)
	if err != nil {
		return "", fmt.Errorf("KVM probe: %w", err)
	}
	defer q.stop()
	resumed := q.resumed
	var bound <-chan time.Time
	for {
		select {
		case <-q.printed:
			return "", nil
		case <-resumed:
			resumed = nil
			bound = time.After(p.GuestBound)
		case <-bound:
			return fmt.Sprintf("KVM started the guest but ran none of its code: a probe that writes one byte to the serial port wrote nothing in %v", p.GuestBound), nil
		case <-q.exited:
			if q.err == nil || !strings.Contains(strings.ToLower(q.stderr.String()), "kvm") {
				return "", nil
			}
			return "QEMU did not start: " + firstNonEmpty(qemuErrors(q.stderr.Bytes()), q.err.Error()), nil
		case <-ctx.Done():
			return "", nil
		}
	}
}

// probeQEMU is a running probe: QEMU paused at its first instruction,
// driven over QMP on its stdin and stdout, its serial port on a pipe.
type probeQEMU struct {
	dir     string
	qmp     *os.File      // QEMU's stdin
	printed chan struct{} // the guest wrote to its serial port
	resumed chan struct{} // QMP's RESUME: the vCPU runs
	exited  chan struct{} // closed when QEMU has exited, with err
	err     error
	stderr  *bytes.Buffer      // read only after exited
	cancel  context.CancelFunc // kills QEMU
	started bool
}

// stop kills QEMU, waits for it, and removes the probe's files; it also
// undoes a start that failed half way.
func (q *probeQEMU) stop() {
	q.cancel()
	if q.started {
		<-q.exited
	}
	if q.qmp != nil {
		q.qmp.Close()
	}
	if q.dir != "" {
		os.RemoveAll(q.dir)
	}
}

// start starts QEMU and sends its QMP commands; on an error it leaves
// nothing behind.
func (p kvmProbe) start(ctx context.Context) (_ *probeQEMU, err error) {
	ctx, cancel := context.WithCancel(ctx)
	q := &probeQEMU{printed: make(chan struct{}), resumed: make(chan struct{}), exited: make(chan struct{}),
		stderr: &bytes.Buffer{}, cancel: cancel}
	defer func() {
		if err != nil {
			q.stop()
		}
	}()
	accel := []string{"-accel", "kvm", "-cpu", "host"} // as the domain runs: host-passthrough
	if p.Accel != "" {
		accel = []string{"-accel", p.Accel}
	}
	args := append(accel, "-machine", p.Machine, "-smp", "1", "-m", "64", "-nodefaults", "-display", "none", "-S", "-qmp", "stdio")
	// Without firmware QEMU quits as soon as its vCPU is set up.
	commands := `{"execute":"qmp_capabilities"}` + "\n" + `{"execute":"quit"}` + "\n"
	var pipes []*os.File // the child's ends, closed here once it runs
	defer func() {
		for _, f := range pipes {
			f.Close()
		}
	}()
	var extra []*os.File
	if p.Firmware != nil {
		dir, err := os.MkdirTemp("", "berth-kvm-probe")
		if err != nil {
			return nil, err
		}
		q.dir = dir
		bios := filepath.Join(dir, "probe.bin")
		if err := os.WriteFile(bios, p.Firmware, 0o600); err != nil {
			return nil, err
		}
		serialR, serialW, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		pipes = append(pipes, serialW)
		extra = []*os.File{serialW}
		args = append(args, "-bios", bios, "-serial", "file:/dev/fd/3") // ExtraFiles[0]
		commands = `{"execute":"qmp_capabilities"}` + "\n" + `{"execute":"cont"}` + "\n"
		go func() {
			defer serialR.Close()
			if _, err := serialR.Read(make([]byte, 1)); err == nil {
				close(q.printed)
			}
		}()
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	pipes = append(pipes, inR)
	q.qmp = inW
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	pipes = append(pipes, outW)
	cmd := exec.CommandContext(ctx, p.QEMU, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.ExtraFiles = inR, outW, q.stderr, extra
	cmd.WaitDelay = time.Second // past a kill, do not wait on its stderr
	if err := cmd.Start(); err != nil {
		outR.Close()
		return nil, fmt.Errorf("start %s: %w", p.QEMU, err)
	}
	go func() {
		q.err = cmd.Wait()
		close(q.exited)
	}()
	q.started = true
	go func() {
		defer outR.Close()
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"event": "RESUME"`) {
				close(q.resumed)
				break
			}
		}
		io.Copy(io.Discard, outR) // QEMU must not block on a full pipe
	}()
	if _, err := q.qmp.WriteString(commands); err != nil {
		return nil, fmt.Errorf("QMP: %w", err)
	}
	return q, nil
}
