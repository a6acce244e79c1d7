package allusers

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/app/settings"
)

func TestProfilesFromProfileList(t *testing.T) {
	drive := t.TempDir()
	expand := func(s string) (string, error) { return strings.ReplaceAll(s, "%SystemDrive%", drive), nil }
	entries := []Entry{
		{Key: "S-1-5-18", ImagePath: `%systemroot%\system32\config\systemprofile`, Expand: true},
		{Key: "S-1-5-19", ImagePath: `%systemroot%\ServiceProfiles\LocalService`, Expand: true},
		{Key: "S-1-5-20", ImagePath: `%systemroot%\ServiceProfiles\NetworkService`, Expand: true},
		{Key: "S-1-5-21-1-2-3-1001", ImagePath: `%SystemDrive%/ann`, Expand: true, Name: `PC\ann`},
		{Key: "S-1-5-21-1-2-3-1001.bak", ImagePath: `%SystemDrive%/ann`, Expand: true},
		{Key: "S-1-12-1-4-5-6-7", ImagePath: drive + "/bob", Name: `AzureAD\bob`},
		{Key: "S-1-5-21-1-2-3-1002", ImagePath: drive + "/ANN", Expand: false}, // same folder, other case
		{Key: "S-1-5-21-1-2-3-1003", ImagePath: ""},
	}
	got, err := Profiles(entries, expand)
	if err != nil {
		t.Fatal(err)
	}
	want := []Profile{
		{SID: "S-1-5-21-1-2-3-1001", Name: `PC\ann`, Dir: drive + "/ann"},
		{SID: "S-1-12-1-4-5-6-7", Name: `AzureAD\bob`, Dir: drive + "/bob"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Profiles = %+v\nwant %+v", got, want)
	}
}

// fakeDaemon serves the control API's status and stop on a user's control
// socket, as berth daemon does.
type fakeDaemon struct {
	state    atomic.Value // control.State
	stops    atomic.Int32
	failStop string // the daemon's answer to a stop it cannot do
}

func serveFakeDaemon(t *testing.T, p settings.Paths, state control.State, failStop string) *fakeDaemon {
	t.Helper()
	d := &fakeDaemon{failStop: failStop}
	d.state.Store(state)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(control.Status{State: d.state.Load().(control.State)})
	})
	mux.HandleFunc("POST /v1/stop", func(w http.ResponseWriter, r *http.Request) {
		d.stops.Add(1)
		if d.failStop != "" {
			w.WriteHeader(http.StatusConflict)
			json.NewEncoder(w).Encode(map[string]string{"error": d.failStop})
			return
		}
		d.state.Store(control.Stopped)
		w.Write([]byte("{}"))
	})
	l := listen(t, p)
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return d
}

func listen(t *testing.T, p settings.Paths) net.Listener {
	t.Helper()
	if err := os.MkdirAll(p.Run, 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", p.ControlSocket())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestStopAllReportsEachUser(t *testing.T) {
	root := t.TempDir()
	profile := func(name string, berth bool) Profile {
		dir := filepath.Join(root, name)
		os.MkdirAll(dir, 0o700)
		if berth {
			os.MkdirAll(settings.WindowsProfilePaths(dir).Data, 0o700)
		}
		return Profile{SID: "S-1-5-21-9-" + name, Name: `PC\` + name, Dir: dir}
	}
	running, idle, absent, stale, hung, never, failing :=
		profile("ann", true), profile("bob", true), profile("cy", true), profile("di", true), profile("ed", true), profile("flo", false), profile("gus", true)

	annD := serveFakeDaemon(t, settings.WindowsProfilePaths(running.Dir), control.Running, "")
	bobD := serveFakeDaemon(t, settings.WindowsProfilePaths(idle.Dir), control.Stopped, "")
	serveFakeDaemon(t, settings.WindowsProfilePaths(failing.Dir), control.Running, "the guest did not answer")
	// di's daemon died and left its socket: nothing listens there.
	l := listen(t, settings.WindowsProfilePaths(stale.Dir))
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	// ed's daemon accepts and never answers.
	hl := listen(t, settings.WindowsProfilePaths(hung.Dir))
	t.Cleanup(func() { hl.Close() })
	go func() {
		for {
			c, err := hl.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()

	s := Stopper{Probe: 300 * time.Millisecond, Stop: 5 * time.Second}
	reports := s.StopAll(context.Background(), []Profile{running, idle, absent, stale, hung, never, failing})

	var got []string
	for _, r := range reports {
		got = append(got, r.Profile.Name+": "+r.Outcome)
	}
	want := []string{`PC\ann: stopped`, `PC\bob: not running`, `PC\cy: not running`, `PC\di: not running`, `PC\ed: unreachable`, `PC\gus: stop failed: `}
	if len(got) != len(want) {
		t.Fatalf("reports %q, want %q (flo never ran Berth and is left out)", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("report %d: %q, want %q…", i, got[i], want[i])
		}
	}
	if annD.stops.Load() != 1 || bobD.stops.Load() != 0 {
		t.Errorf("stops: ann %d, bob %d; want 1, 0", annD.stops.Load(), bobD.stops.Load())
	}
	if reports[0].String() != `PC\ann (`+running.Dir+`): stopped` {
		t.Errorf("report line %q", reports[0].String())
	}
	if !reports[0].OK() || reports[4].OK() {
		t.Error("OK: a stopped machine is fine, an unreachable one is not")
	}
}
