package hostdns

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/vishvananda/netlink"
)

// settle merges a burst of events (an editor's write, a VPN client
// rewriting resolv.conf line by line) into one reload.
const settle = 50 * time.Millisecond

// NewHostResolver resolves from /etc/resolv.conf and /etc/hosts and
// follows their changes.
func NewHostResolver(log *slog.Logger) (HostResolver, error) {
	const rc, hosts = "/etc/resolv.conf", "/etc/hosts"
	return NewFiles(FilesConfig{ResolvConf: rc, Hosts: hosts, Watcher: NewWatcher(log, rc, hosts), Log: log})
}

// fileWatcher watches files through inotify, and the host's addresses and
// routes through netlink (a VPN that brings its interface up usually
// rewrites resolv.conf too, but a resolver behind the stub may change
// with the routes alone).
type fileWatcher struct {
	paths []string
	log   *slog.Logger
}

// NewWatcher watches paths: each file itself (an in-place rewrite, or a
// bind mount's file), its directory (a file replaced by a rename, as
// resolvconf and NetworkManager do), and the same for the file a symlink
// leads to (systemd-resolved's /run/systemd/resolve/stub-resolv.conf).
func NewWatcher(log *slog.Logger, paths ...string) Watcher {
	return &fileWatcher{paths: paths, log: log}
}

func (w *fileWatcher) Watch(ctx context.Context, changed func(why string)) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch resolver configuration: %w", err)
	}
	defer fw.Close() //nolint:errcheck // nothing to do about a failed close
	w.add(fw)

	nl := make(chan string, 1)
	done := make(chan struct{})
	defer close(done)
	w.netlink(nl, done)

	var timer <-chan time.Time
	why := ""
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			if !w.relevant(ev.Name) {
				continue
			}
			why = "file " + ev.Name + " " + ev.Op.String()
			timer = time.After(settle)
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			w.log.Warn("watching the resolver configuration", "err", err)
		case r := <-nl:
			why = r
			timer = time.After(settle)
		case <-timer:
			timer = nil
			// Symlinks may lead elsewhere now, and a replaced file is a
			// new inode: watch again what the paths are now.
			w.add(fw)
			changed(why)
		}
	}
}

// targets are the files and directories to watch now.
func (w *fileWatcher) targets() []string {
	var out []string
	for _, p := range w.paths {
		out = append(out, p, filepath.Dir(p))
		if target, err := filepath.EvalSymlinks(p); err == nil && target != p {
			out = append(out, target, filepath.Dir(target))
		}
	}
	return out
}

func (w *fileWatcher) relevant(name string) bool {
	for _, t := range w.targets() {
		if name == t && filepath.Dir(t) != t {
			return true
		}
	}
	return false
}

func (w *fileWatcher) add(fw *fsnotify.Watcher) {
	for _, t := range w.targets() {
		// Re-adding an existing watch is harmless; a missing file is
		// covered by its directory's watch.
		fw.Add(t) //nolint:errcheck // see above
	}
}

// netlink reports address and route changes on out until done closes.
// Without netlink (a restricted sandbox) the files alone are watched.
func (w *fileWatcher) netlink(out chan<- string, done chan struct{}) {
	addrs := make(chan netlink.AddrUpdate, 16)
	if err := netlink.AddrSubscribe(addrs, done); err != nil {
		w.log.Debug("no netlink address updates", "err", err)
	} else {
		go forward(addrs, out, "address change")
	}
	routes := make(chan netlink.RouteUpdate, 16)
	if err := netlink.RouteSubscribe(routes, done); err != nil {
		w.log.Debug("no netlink route updates", "err", err)
	} else {
		go forward(routes, out, "route change")
	}
}

func forward[T any](in <-chan T, out chan<- string, why string) {
	for range in {
		select {
		case out <- why:
		default: // one pending notice is enough
		}
	}
}
