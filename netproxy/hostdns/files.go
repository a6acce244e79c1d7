package hostdns

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sync/atomic"

	"github.com/miekg/dns"
)

// Files resolves as a Unix host's stub resolver does from its files: the
// hosts file first, then resolv.conf's servers, search list and options.
// It re-reads both whenever its Watcher reports a change.
type Files struct {
	c     FilesConfig
	state atomic.Pointer[filesState]
}

// FilesConfig says where Files reads.
type FilesConfig struct {
	ResolvConf, Hosts string
	// Watcher reports changes; nil: the configuration stays as read
	// until Reload.
	Watcher Watcher
	// Port is the servers' port: 53 unless zero (tests serve elsewhere;
	// resolv.conf cannot say).
	Port uint16
	Log  *slog.Logger
}

type filesState struct {
	conf  ResolvConf
	fwd   forwarder
	hosts Hosts
}

// NewFiles reads the files (a missing hosts file is empty).
func NewFiles(c FilesConfig) (*Files, error) {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	f := &Files{c: c}
	if _, err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Reload re-reads the files and says whether the configuration changed.
// On an error the previous configuration stays.
func (f *Files) Reload() (bool, error) {
	// No resolv.conf means the local server, as for the host's resolver.
	b, err := os.ReadFile(f.c.ResolvConf)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("host resolver configuration: %w", err)
	}
	conf := ParseResolvConf(b)
	if f.c.Port != 0 {
		for i, s := range conf.Servers {
			conf.Servers[i] = netip.AddrPortFrom(s.Addr(), f.c.Port)
		}
	}
	h := Hosts{}
	if b, err := os.ReadFile(f.c.Hosts); err == nil {
		h = ParseHosts(b)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("host's hosts file: %w", err)
	}
	old := f.state.Load()
	st := &filesState{conf: conf, fwd: newForwarder(conf), hosts: h}
	if old != nil && sameConf(old.conf, conf) {
		st.fwd.next = old.fwd.next
	}
	f.state.Store(st)
	changed := old == nil || !sameConf(old.conf, conf) || !sameHosts(old.hosts, h)
	if changed {
		f.c.Log.Info("host resolver configuration", "servers", conf.Servers, "search", conf.Search, "ndots", conf.Ndots,
			"timeout", conf.Timeout, "attempts", conf.Attempts, "rotate", conf.Rotate, "hosts_names", len(h))
	}
	return changed, nil
}

func sameConf(a, b ResolvConf) bool {
	return slices.Equal(a.Servers, b.Servers) && slices.Equal(a.Search, b.Search) && a.Ndots == b.Ndots &&
		a.Timeout == b.Timeout && a.Attempts == b.Attempts && a.Rotate == b.Rotate && a.UseVC == b.UseVC
}

func sameHosts(a, b Hosts) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// Config is the resolv.conf in use.
func (f *Files) Config() ResolvConf { return f.state.Load().conf }

// Run follows the host's changes until ctx ends.
func (f *Files) Run(ctx context.Context) error {
	if f.c.Watcher == nil {
		<-ctx.Done()
		return nil
	}
	return f.c.Watcher.Watch(ctx, func(why string) {
		if changed, err := f.Reload(); err != nil {
			f.c.Log.Warn("cannot re-read the host's resolver configuration", "why", why, "err", err)
		} else if changed {
			f.c.Log.Debug("host resolver configuration reloaded", "why", why)
		}
	})
}

// Exchange answers q from the hosts file or the servers, applying the
// search list as the host does.
func (f *Files) Exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
	st := f.state.Load()
	if m, ok := st.hosts.answer(q); ok {
		return m, nil
	}
	return searchExchange(ctx, q, st.conf.candidates(q.Question[0].Name), st.fwd.exchange)
}

// searchExchange tries each candidate name and returns the first answer
// with data; one found through the search list is the client's name as a
// CNAME to the expanded one (clients sent a fully qualified name, so the
// answer must own that name). When none has data, the name as asked
// decides the answer.
func searchExchange(ctx context.Context, q *dns.Msg, names []string, ex func(context.Context, *dns.Msg) (*dns.Msg, error)) (*dns.Msg, error) {
	asked := q.Question[0].Name
	if len(names) == 1 {
		return ex(ctx, q)
	}
	var plain *dns.Msg
	var plainErr error
	for _, n := range names {
		qq := q.Copy()
		qq.Question[0].Name = n
		r, err := ex(ctx, qq)
		if dns.CanonicalName(n) == dns.CanonicalName(asked) {
			plain, plainErr = r, err
			if err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0 {
				return r, nil
			}
			continue
		}
		if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			continue
		}
		cname := &dns.CNAME{Hdr: dns.RR_Header{Name: asked, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: MaxTTL}, Target: n}
		r.Answer = append([]dns.RR{cname}, r.Answer...)
		r.Question = q.Question
		return r, nil
	}
	if plain == nil && plainErr == nil {
		return nil, errNoServers
	}
	return plain, plainErr
}
