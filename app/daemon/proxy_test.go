package daemon

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/berthvm/berth/app/dockerctx"
	"github.com/berthvm/berth/app/settings"
)

// The docker CLI's proxies for Berth are written only on opt-in, with the
// gateway's proxy, and removed on opt-out.
func TestContainerProxiesFollowTheSetting(t *testing.T) {
	dir := t.TempDir()
	d := &Daemon{o: Options{Log: slog.New(slog.DiscardHandler), Contexts: dockerctx.Store{Dir: dir}, Paths: settings.Paths{Run: filepath.Join(dir, "run")}}}
	read := func() map[string]dockerctx.Proxies {
		var cfg struct {
			Proxies map[string]dockerctx.Proxies `json:"proxies"`
		}
		b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
		json.Unmarshal(b, &cfg)
		return cfg.Proxies
	}
	d.containerProxies(false)
	if p := read(); len(p) != 0 {
		t.Fatalf("not opted in, yet proxies %v", p)
	}
	d.containerProxies(true)
	p := read()[dockerctx.HostURL(d.o.Paths.DockerSocket())]
	if p.HTTPSProxy != "http://192.168.127.1:3128" || p.HTTPProxy != p.HTTPSProxy || p.NoProxy == "" {
		t.Fatalf("opted in: %+v", read())
	}
	d.containerProxies(false)
	if p := read(); len(p) != 0 {
		t.Fatalf("opted out, yet proxies %v", p)
	}
}
