package api

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/berthvm/berth/guestd/protocol"
)

func TestClientServer(t *testing.T) {
	shut := make(chan bool, 1)
	statsErr := error(nil)
	srv := httptest.NewServer(Server{
		Health: func() protocol.Health {
			return protocol.Health{State: protocol.Ready, Uptime: 12.5, Boot: []protocol.Step{{Name: "engine-ready", At: 11}}, Versions: protocol.Versions{Docker: "20.10.24"}}
		},
		Stats: func() (protocol.Stats, error) {
			return protocol.Stats{CPUs: 2, Memory: protocol.Usage{Total: 100, Used: 40}}, statsErr
		},
		Shutdown: func(reboot bool) { shut <- reboot },
	}.Handler())
	defer srv.Close()
	var d net.Dialer
	c := protocol.NewClient(strings.TrimPrefix(srv.URL, "http://"), d.DialContext)
	ctx := context.Background()

	h, err := c.Health(ctx)
	if err != nil || h.State != protocol.Ready || h.Versions.Docker != "20.10.24" || h.Boot[0].At != 11 {
		t.Fatalf("health %+v, %v", h, err)
	}
	s, err := c.Stats(ctx)
	if err != nil || s.CPUs != 2 || s.Memory.Used != 40 {
		t.Fatalf("stats %+v, %v", s, err)
	}
	statsErr = errors.New("statfs /mnt/data: no such file")
	if _, err := c.Stats(ctx); err == nil || !strings.Contains(err.Error(), "statfs /mnt/data") {
		t.Fatalf("stats error not passed on: %v", err)
	}
	if err := c.Shutdown(ctx, true); err != nil {
		t.Fatal(err)
	}
	select {
	case reboot := <-shut:
		if !reboot {
			t.Fatal("reboot flag lost")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown not called")
	}
}

func TestShutdownRejectsBadBody(t *testing.T) {
	srv := httptest.NewServer(Server{Shutdown: func(bool) { t.Error("must not shut down") }}.Handler())
	defer srv.Close()
	resp, err := srv.Client().Post(srv.URL+"/v1/shutdown", "application/json", strings.NewReader("{nope"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 400 {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
}

func TestClock(t *testing.T) {
	var got time.Duration
	srv := httptest.NewServer(Server{StepClock: func(d time.Duration) error {
		got = d
		return nil
	}}.Handler())
	defer srv.Close()
	var d net.Dialer
	c := protocol.NewClient(strings.TrimPrefix(srv.URL, "http://"), d.DialContext)
	ctx := context.Background()

	before := time.Now()
	g, err := c.Clock(ctx)
	if err != nil || g.Before(before.Round(0)) || g.After(time.Now()) {
		t.Fatalf("clock %v (%v), want between %v and now", g, err, before)
	}
	before = time.Now()
	after, err := c.StepClock(ctx, -61*time.Second-123*time.Nanosecond)
	if err != nil || got != -61*time.Second-123*time.Nanosecond || after.Before(before.Round(0)) {
		t.Fatalf("step clock: stepped %v, time after %v, %v", got, after, err)
	}
	// A step back to 1970 is a broken request.
	got = 0
	if _, err := c.StepClock(ctx, -time.Since(time.Unix(0, 0))); err == nil || !strings.Contains(err.Error(), "400") || got != 0 {
		t.Fatalf("step clock to 1970: %v (stepped %v)", err, got)
	}
}

func TestDiskUseAndTrim(t *testing.T) {
	engineUp := false
	notYet := errors.New("the engine is not running yet")
	srv := httptest.NewServer(Server{
		DiskUse: func() (protocol.DiskUse, error) {
			if !engineUp {
				return protocol.DiskUse{}, notYet
			}
			return protocol.DiskUse{Filesystem: protocol.Usage{Total: 1 << 30, Used: 1 << 20}, Logs: 4096}, nil
		},
		Trim: func() (uint64, error) {
			if !engineUp {
				return 0, notYet
			}
			return 512 << 20, nil
		},
	}.Handler())
	defer srv.Close()
	var d net.Dialer
	c := protocol.NewClient(strings.TrimPrefix(srv.URL, "http://"), d.DialContext)
	ctx := context.Background()
	if _, err := c.DiskUse(ctx); err == nil || !strings.Contains(err.Error(), notYet.Error()) {
		t.Fatalf("disk use before the engine: %v", err)
	}
	if _, err := c.Trim(ctx); err == nil || !strings.Contains(err.Error(), notYet.Error()) {
		t.Fatalf("trim before the engine: %v", err)
	}
	engineUp = true
	u, err := c.DiskUse(ctx)
	if err != nil || u.Filesystem.Used != 1<<20 || u.Logs != 4096 {
		t.Fatalf("disk use %+v, %v", u, err)
	}
	if n, err := c.Trim(ctx); err != nil || n != 512<<20 {
		t.Fatalf("trim %d, %v", n, err)
	}
}

func TestFSEvents(t *testing.T) {
	var got protocol.FSEvents
	srv := httptest.NewServer(Server{FSEvents: func(_ context.Context, ev protocol.FSEvents) protocol.FSEventsApplied {
		got = ev
		return protocol.FSEventsApplied{Touched: 1, Skipped: 1}
	}}.Handler())
	defer srv.Close()
	var d net.Dialer
	c := protocol.NewClient(strings.TrimPrefix(srv.URL, "http://"), d.DialContext)
	a, err := c.FSEvents(context.Background(), protocol.FSEvents{Changes: []protocol.FSChange{{Path: "/home/me/a", MtimeNanos: 5}, {Path: "/home/me/b", Gone: true}}})
	if err != nil || a.Touched != 1 || a.Skipped != 1 {
		t.Fatalf("applied %+v, %v", a, err)
	}
	if len(got.Changes) != 2 || got.Changes[0].MtimeNanos != 5 || !got.Changes[1].Gone {
		t.Fatalf("guest got %+v", got)
	}
	resp, err := srv.Client().Post(srv.URL+protocol.FSEventsPath, "application/json", strings.NewReader("{nope"))
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("bad body: %v %v", resp, err)
	}
	resp.Body.Close()
}
