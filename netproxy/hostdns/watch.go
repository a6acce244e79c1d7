package hostdns

import "context"

// Watcher tells when the host's resolver configuration may have changed:
// Watch calls changed (with a word on why) after each change, possibly
// more often, until ctx ends. Each OS has its own (NewWatcher).
type Watcher interface {
	Watch(ctx context.Context, changed func(why string)) error
}

// HostResolver resolves as the host does and follows the host's changes
// while Run runs.
type HostResolver interface {
	Upstream
	Run(ctx context.Context) error
}
