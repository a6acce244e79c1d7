package hostdns

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// resolv.conf rewritten while Berth runs: the next query follows it, within
// a bound measured here.
func TestResolvConfFollowed(t *testing.T) {
	u := startUpstream(t)
	dir := t.TempDir()
	rc := filepath.Join(dir, "real", "resolv.conf")
	os.Mkdir(filepath.Dir(rc), 0o755) //nolint:errcheck // the write below fails if this did
	write(t, rc, "nameserver 127.0.0.1\n")
	// resolv.conf is a symlink, as systemd-resolved makes it.
	link := filepath.Join(dir, "resolv.conf")
	if err := os.Symlink(rc, link); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	f, err := NewFiles(FilesConfig{ResolvConf: link, Hosts: filepath.Join(dir, "hosts"), Port: u.port, Watcher: NewWatcher(log, link), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx) //nolint:errcheck // ends with ctx
	time.Sleep(100 * time.Millisecond)
	follow := func(how string, change func(), want string) {
		start := time.Now()
		change()
		for f.Config().Search == nil || f.Config().Search[0] != want {
			if time.Since(start) > 2*time.Second {
				t.Fatalf("%s: not followed within 2s: %+v", how, f.Config())
			}
			time.Sleep(time.Millisecond)
		}
		t.Logf("resolv.conf %s: followed in %v", how, time.Since(start).Round(time.Millisecond))
	}
	follow("rewritten in place", func() { write(t, rc, "nameserver 127.0.0.1\nsearch one.example\n") }, "one.example.")
	follow("replaced by rename", func() {
		write(t, rc+".new", "nameserver 127.0.0.1\nsearch two.example\n")
		os.Rename(rc+".new", rc) //nolint:errcheck // checked by the follow
	}, "two.example.")
	other := filepath.Join(dir, "other.conf")
	write(t, other, "nameserver 127.0.0.1\nsearch three.example\n")
	follow("symlink repointed", func() {
		os.Remove(link)         //nolint:errcheck // checked by the follow
		os.Symlink(other, link) //nolint:errcheck // checked by the follow
	}, "three.example.")
	follow("new target rewritten", func() { write(t, other, "nameserver 127.0.0.1\nsearch four.example\n") }, "four.example.")
	// And the next query goes by it: "app." is found through the new
	// search domain.
	follow("search domain added", func() { write(t, other, "nameserver 127.0.0.1\nsearch corp.example\n") }, "corp.example.")
	q := new(dns.Msg)
	q.SetQuestion("app.", dns.TypeA)
	r, err := f.Exchange(ctx, q)
	if err != nil || len(r.Answer) != 2 {
		t.Errorf("app. after the rewrite: %v %v", r, err)
	}
}

// A name added to the hosts file resolves without a restart.
func TestHostsFollowed(t *testing.T) {
	dir := t.TempDir()
	rc, hosts := filepath.Join(dir, "resolv.conf"), filepath.Join(dir, "hosts")
	write(t, rc, "nameserver 127.0.0.1\n")
	write(t, hosts, "127.0.0.1 localhost\n")
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	f, err := NewFiles(FilesConfig{ResolvConf: rc, Hosts: hosts, Port: dropper(t), Watcher: NewWatcher(log, rc, hosts), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx) //nolint:errcheck // ends with ctx
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	write(t, hosts, "127.0.0.1 localhost\n10.4.4.4 added.example\n")
	q := new(dns.Msg)
	q.SetQuestion("added.example.", dns.TypeA)
	for {
		qctx, qcancel := context.WithTimeout(ctx, 50*time.Millisecond)
		r, err := f.Exchange(qctx, q)
		qcancel()
		if err == nil && len(r.Answer) == 1 {
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatal("hosts file change not followed within 2s")
		}
	}
	t.Logf("hosts file rewritten: followed in %v", time.Since(start).Round(time.Millisecond))
}
