//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthvm/berth/app/settings"
)

// The guest's clock after the VM stood still: the hypervisor freezes the
// VM for a minute (as a host's sleep does), and the daemon sets the
// guest's clock from the host's when the VM resumes.
func TestGuestClockAfterSuspend(t *testing.T) {
	e := newBerthEnv(t)
	image := buildBusybox(t)
	starting := time.Now()
	e.berth("start")
	started := time.Now()
	e.docker("load", "-i", image)
	st := e.status()

	// The host's time reaches guestd on its command line, for the step
	// at boot of a clock that is behind it.
	var hostTime int64
	for _, f := range strings.Fields(e.berth("shell", "cat", "/proc/cmdline")) {
		if v, ok := strings.CutPrefix(f, "berth.time="); ok {
			hostTime, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if hostTime < starting.Unix() || hostTime > started.Unix() {
		t.Errorf("berth.time=%d on the guest's command line, want the host's time during `berth start` (%d..%d)", hostTime, starting.Unix(), started.Unix())
	}

	// The guest prints its clock five times a second through one shell
	// session, from before the suspend to after the resume; the host
	// notes when each line arrives. A line arrives after it was printed,
	// so the guest's time less the arrival is the guest's offset less the
	// line's way through the daemon and the CLI (up to hundreds of
	// milliseconds when the host is busy).
	trace := traceGuestClock(t, e)
	time.Sleep(3 * time.Second)

	t.Setenv("BERTH_HOME", e.home)
	paths, err := settings.DefaultPaths()
	if err != nil {
		t.Fatal(err)
	}
	const frozen = 60 * time.Second
	suspended := time.Now()
	virsh(t, "suspend", paths.VMName())
	time.Sleep(frozen)
	virsh(t, "resume", paths.VMName())
	resumed := time.Now()
	time.Sleep(5 * time.Second)

	lines := trace()
	var last, stale, right *clockLine
	for i := range lines {
		l := &lines[i]
		switch {
		case l.arrived.Before(suspended):
			last = l
		case l.arrived.Before(resumed):
			// printed just before the suspend took hold
		case stale == nil && l.offset() < -time.Second:
			stale = l
		case right == nil && l.offset().Abs() < time.Second:
			right = l
		}
	}
	if last == nil || right == nil {
		t.Fatalf("the guest's clock: before the suspend %v, right after the resume %v; all lines:\n%v", last, right, lines)
	}
	t.Logf("CLOCK guest offset before the suspend: %v", last.offset().Round(time.Millisecond))
	// The daemon may set the clock before the guest prints again.
	if stale != nil {
		t.Logf("CLOCK guest offset %v after the resume: %v (before the correction)", stale.arrived.Sub(resumed).Round(time.Millisecond), stale.offset().Round(time.Millisecond))
	} else {
		t.Logf("CLOCK the guest printed nothing between the resume and the correction")
	}
	t.Logf("CLOCK guest offset %v after the resume: %v (corrected)", right.arrived.Sub(resumed).Round(time.Millisecond), right.offset().Round(time.Millisecond))

	// What the daemon measured and did, to the millisecond: through the
	// guest API, without the shell's and the CLI's delays.
	logb, err := os.ReadFile(st.DaemonLog)
	if err != nil {
		t.Fatal(err)
	}
	if m := clockBootLine.FindStringSubmatch(string(logb)); m != nil {
		t.Logf("CLOCK daemon log: at boot the guest's clock was on time: offset %s", m[1])
	}
	sets := clockSets(string(logb))
	for _, s := range sets {
		t.Logf("CLOCK daemon log: %s: %s: offset %s, step %s, offset after %s", s.at.Format("15:04:05.000"), s.why, s.offset, s.step, s.after)
	}
	if len(sets) == 0 || sets[len(sets)-1].at.Before(resumed) {
		t.Fatalf("the daemon did not set the guest's clock after the resume; its log:\n%s", logb)
	}
	set := sets[len(sets)-1]
	took := set.at.Sub(resumed)
	t.Logf("CLOCK the daemon set the guest's clock %v after `virsh resume` returned (%s): offset before the correction %s, step %s, offset after %s",
		took.Round(time.Millisecond), set.why, set.offset, set.step, set.after)
	if !strings.Contains(set.why, "resumed") {
		t.Errorf("the clock was set for %q, want the resume", set.why)
	}
	if off, err := time.ParseDuration(set.offset); err != nil || off > -frozen+5*time.Second || off < -frozen-30*time.Second {
		t.Errorf("offset before the correction %s, want about -%v", set.offset, frozen)
	}
	if took > 2*time.Second {
		t.Errorf("the guest's clock was set %v after the resume, want within 2 s", took)
	}
	if off, err := time.ParseDuration(set.after); err != nil || off.Abs() >= time.Second {
		t.Errorf("offset after the correction %s, want within 1 s", set.after)
	}

	// Containers see the right date.
	t0 := time.Now()
	out := e.docker("run", "--rm", testImage, "date", "+%s")
	t1 := time.Now()
	sec, err := strconv.ParseInt(out, 10, 64)
	if err != nil {
		t.Fatalf("date in a container: %q", out)
	}
	if sec < t0.Unix()-1 || sec > t1.Unix()+1 {
		t.Fatalf("date in a container %d, the host's between %d and %d", sec, t0.Unix(), t1.Unix())
	}
	t.Logf("CLOCK docker run date: %d, host %d..%d", sec, t0.Unix(), t1.Unix())
}

// clockLine is one reading of the guest's clock, and when the host got it.
type clockLine struct {
	printed, arrived time.Time
}

func (l clockLine) offset() time.Duration { return l.printed.Sub(l.arrived) }

func (l clockLine) String() string {
	return fmt.Sprintf("%s: %v", l.arrived.Format("15:04:05.000"), l.offset().Round(time.Millisecond))
}

// traceGuestClock starts printing the guest's clock; the function it
// returns stops and gives the readings.
func traceGuestClock(t *testing.T, e *berthEnv) func() []clockLine {
	cmd := exec.Command(e.bin, "shell", "sh", "-c", "while :; do date +%s.%N; sleep 0.2; done")
	cmd.Env = e.env()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []clockLine
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			arrived := time.Now()
			f, err := strconv.ParseFloat(strings.TrimSpace(sc.Text()), 64)
			if err != nil {
				t.Errorf("guest date: %q", sc.Text())
				continue
			}
			lines = append(lines, clockLine{printed: time.Unix(0, int64(f*1e9)), arrived: arrived})
		}
	}()
	return func() []clockLine {
		cmd.Process.Kill()
		<-done
		cmd.Wait()
		return lines
	}
}

func virsh(t *testing.T, args ...string) {
	t.Helper()
	uri := "qemu:///system"
	if os.Geteuid() != 0 {
		uri = "qemu:///session"
	}
	if out, err := exec.Command("virsh", append([]string{"-c", uri}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("virsh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

type clockSet struct {
	at                       time.Time
	why, offset, step, after string
}

var clockSetLine = regexp.MustCompile(`time=(\S+) level=INFO msg="set the guest's clock from the host's" why="?([^"]*?)"? offset=(\S+) step=(\S+) offset_after=(\S+)`)

var clockBootLine = regexp.MustCompile(`msg="the guest's clock is on time" why=boot offset=(\S+)`)

// clockSets finds the daemon's reports of setting the guest's clock.
func clockSets(log string) []clockSet {
	var sets []clockSet
	for _, l := range clockSetLine.FindAllStringSubmatch(log, -1) {
		if at, err := time.Parse(time.RFC3339Nano, l[1]); err == nil {
			sets = append(sets, clockSet{at: at, why: l[2], offset: l[3], step: l[4], after: l[5]})
		}
	}
	return sets
}
