package hostdns

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"time"
)

// NewHostResolver resolves as macOS's system resolver routes names: the
// resolvers `scutil --dns` lists (supplemental ones for /etc/resolver/*
// and VPN domains win for names under them), and /etc/hosts.
//
// Never run: written and compiled on Linux only; ParseScutilDNS and the
// routing are tested there against documented `scutil --dns` output.
func NewHostResolver(log *slog.Logger) (HostResolver, error) {
	return NewDynamic(scutilDNS, "/etc/hosts", &scutilWatcher{every: 2 * time.Second}, log)
}

func scutilDNS() (Scopes, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/sbin/scutil", "--dns").Output()
	if err != nil {
		return nil, fmt.Errorf("scutil --dns: %w", err)
	}
	return ParseScutilDNS(out), nil
}

// scutilWatcher reports a change when `scutil --dns` prints something new.
// What it should be is a notification on SCDynamicStore's
// State:/Network/Global/DNS and State:/Network/Service/.*/DNS keys (cgo and
// a run loop); until then it polls. Never run.
type scutilWatcher struct {
	every time.Duration
}

func (w *scutilWatcher) Watch(ctx context.Context, changed func(why string)) error {
	var last []byte
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		out, err := exec.CommandContext(ctx, "/usr/sbin/scutil", "--dns").Output()
		if err != nil {
			continue
		}
		if last != nil && !bytes.Equal(out, last) {
			changed("scutil --dns changed")
		}
		last = out
	}
}
