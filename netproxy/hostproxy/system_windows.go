package hostproxy

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/windows/registry"
)

const internetSettings = `Software\Microsoft\Windows\CurrentVersion\Internet Settings`

// System reads the user's WinINET proxies (what Settings > Proxy sets).
func System() Source {
	return SourceFunc(func(context.Context) (Settings, error) {
		k, err := registry.OpenKey(registry.CURRENT_USER, internetSettings, registry.QUERY_VALUE)
		if err != nil {
			return Settings{}, fmt.Errorf(`HKCU\%s: %w`, internetSettings, err)
		}
		defer k.Close()
		var w WinINET
		if v, _, err := k.GetIntegerValue("ProxyEnable"); err == nil {
			w.ProxyEnable = uint32(v)
		}
		for name, dst := range map[string]*string{"ProxyServer": &w.ProxyServer, "ProxyOverride": &w.ProxyOverride, "AutoConfigURL": &w.AutoConfigURL} {
			v, _, err := k.GetStringValue(name)
			if err != nil && !errors.Is(err, registry.ErrNotExist) {
				return Settings{}, fmt.Errorf(`HKCU\%s\%s: %w`, internetSettings, name, err)
			}
			*dst = v
		}
		return ParseWinINET(w)
	})
}
