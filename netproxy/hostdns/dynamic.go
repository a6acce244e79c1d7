package hostdns

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"reflect"
	"sync/atomic"

	"github.com/miekg/dns"
)

// Dynamic resolves through Scopes read from the host's system resolver
// (macOS, Windows) and a hosts file, and reads them again on each change
// its Watcher reports.
type Dynamic struct {
	read    func() (Scopes, error)
	hosts   string
	watcher Watcher
	log     *slog.Logger
	state   atomic.Pointer[dynamicState]
}

type dynamicState struct {
	scopes Scopes
	hosts  Hosts
}

// NewDynamic reads the scopes and the hosts file once.
func NewDynamic(read func() (Scopes, error), hosts string, w Watcher, log *slog.Logger) (*Dynamic, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dynamic{read: read, hosts: hosts, watcher: w, log: log}
	if _, err := d.Reload(); err != nil {
		return nil, err
	}
	return d, nil
}

// Reload reads the configuration again and says whether it changed; on an
// error the previous one stays.
func (d *Dynamic) Reload() (bool, error) {
	s, err := d.read()
	if err != nil {
		return false, fmt.Errorf("host resolver configuration: %w", err)
	}
	h := Hosts{}
	if b, err := os.ReadFile(d.hosts); err == nil {
		h = ParseHosts(b)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("host's hosts file: %w", err)
	}
	st := &dynamicState{scopes: s.sorted(), hosts: h}
	old := d.state.Swap(st)
	changed := old == nil || !reflect.DeepEqual(old.scopes, st.scopes) || !sameHosts(old.hosts, h)
	if changed {
		d.log.Info("host resolver configuration", "resolvers", len(s), "hosts_names", len(h))
		for _, sc := range st.scopes {
			d.log.Debug("host resolver", "domain", sc.Domain, "servers", sc.Servers, "order", sc.Order)
		}
	}
	return changed, nil
}

// Run follows the host's changes until ctx ends.
func (d *Dynamic) Run(ctx context.Context) error {
	if d.watcher == nil {
		<-ctx.Done()
		return nil
	}
	return d.watcher.Watch(ctx, func(why string) {
		if _, err := d.Reload(); err != nil {
			d.log.Warn("cannot re-read the host's resolver configuration", "why", why, "err", err)
		}
	})
}

// Exchange answers from the hosts file or the resolver for the name.
func (d *Dynamic) Exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
	st := d.state.Load()
	if m, ok := st.hosts.answer(q); ok {
		return m, nil
	}
	return st.scopes.Exchange(ctx, q)
}
