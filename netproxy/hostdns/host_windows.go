package hostdns

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// The NRPT's keys: local rules and group policy's.
var nrptKeys = []string{
	`SYSTEM\CurrentControlSet\Services\Dnscache\Parameters\DnsPolicyConfig`,
	`SOFTWARE\Policies\Microsoft\Windows NT\DNSClient\DnsPolicyConfig`,
}

// NewHostResolver resolves as Windows' DNS Client service routes names:
// the Name Resolution Policy Table's rules (VPN split DNS) for the names
// they match, else the interfaces' servers, and the hosts file.
//
// Never run: written and compiled on Linux only; NRPTScopes and the
// routing are tested there. The DNS Client itself is not asked: its raw
// query API (DnsQueryRaw) needs Windows 11, and DnsQuery_W answers only the
// record types it parses; the rules are applied here as it applies them.
func NewHostResolver(log *slog.Logger) (HostResolver, error) {
	hosts := filepath.Join(os.Getenv("SystemRoot"), `System32\drivers\etc\hosts`)
	return NewDynamic(readWindows, hosts, &windowsWatcher{log: log}, log)
}

func readWindows() (Scopes, error) {
	var rules []NRPTRule
	for _, k := range nrptKeys {
		rules = append(rules, readNRPT(k)...)
	}
	servers, err := interfaceServers()
	if err != nil {
		return nil, err
	}
	var search []string
	if k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SYSTEM\CurrentControlSet\Services\Tcpip\Parameters`, registry.QUERY_VALUE); err == nil {
		if s, _, err := k.GetStringValue("SearchList"); err == nil && s != "" {
			search = strings.Split(s, ",")
		}
		k.Close() //nolint:errcheck // read-only key
	}
	return NRPTScopes(rules, servers, search), nil
}

func readNRPT(path string) []NRPTRule {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.ENUMERATE_SUB_KEYS)
	if err != nil {
		return nil
	}
	defer k.Close() //nolint:errcheck // read-only key
	names, _ := k.ReadSubKeyNames(-1)
	var out []NRPTRule
	for _, n := range names {
		rk, err := registry.OpenKey(k, n, registry.QUERY_VALUE)
		if err != nil {
			continue
		}
		var r NRPTRule
		r.Names, _, _ = rk.GetStringsValue("Name")
		if s, _, err := rk.GetStringValue("GenericDNSServers"); err == nil {
			for _, a := range strings.Split(s, ";") {
				if ip, err := netip.ParseAddr(strings.TrimSpace(a)); err == nil {
					r.Servers = append(r.Servers, ip)
				}
			}
		}
		rk.Close() //nolint:errcheck // read-only key
		out = append(out, r)
	}
	return out
}

// interfaceServers lists the DNS servers of the interfaces that are up,
// lowest IPv4 metric first (the order the DNS Client tries them).
func interfaceServers() ([]netip.Addr, error) {
	size := uint32(15000)
	var buf []byte
	for range 3 {
		buf = make([]byte, size)
		err := windows.GetAdaptersAddresses(windows.AF_UNSPEC, windows.GAA_FLAG_SKIP_ANYCAST|windows.GAA_FLAG_SKIP_MULTICAST, 0,
			(*windows.IpAdapterAddresses)(unsafe.Pointer(&buf[0])), &size)
		if err == nil {
			break
		}
		if err != windows.ERROR_BUFFER_OVERFLOW {
			return nil, fmt.Errorf("GetAdaptersAddresses: %w", err)
		}
	}
	type ifc struct {
		metric uint32
		addrs  []netip.Addr
	}
	var ifs []ifc
	for a := (*windows.IpAdapterAddresses)(unsafe.Pointer(&buf[0])); a != nil; a = a.Next {
		if a.OperStatus != windows.IfOperStatusUp {
			continue
		}
		var c ifc
		c.metric = a.Ipv4Metric
		for d := a.FirstDnsServerAddress; d != nil; d = d.Next {
			if ip, ok := netip.AddrFromSlice(d.Address.IP()); ok && !ip.IsLinkLocalUnicast() {
				c.addrs = append(c.addrs, ip.Unmap())
			}
		}
		ifs = append(ifs, c)
	}
	for i := 1; i < len(ifs); i++ {
		for j := i; j > 0 && ifs[j].metric < ifs[j-1].metric; j-- {
			ifs[j], ifs[j-1] = ifs[j-1], ifs[j]
		}
	}
	var out []netip.Addr
	for _, c := range ifs {
		out = append(out, c.addrs...)
	}
	return out, nil
}

// windowsWatcher reports interface changes (NotifyIpInterfaceChange) and
// changes under the NRPT's keys (RegNotifyChangeKeyValue). Never run.
type windowsWatcher struct {
	log *slog.Logger
}

func (w *windowsWatcher) Watch(ctx context.Context, changed func(why string)) error {
	notes := make(chan string, 1)
	note := func(why string) {
		select {
		case notes <- why:
		default:
		}
	}
	// The callback is registered once per Watch: Windows keeps a few
	// thousand callbacks at most and never frees them.
	cb := windows.NewCallback(func(_, _ uintptr, _ uint32) uintptr {
		note("interface change")
		return 0
	})
	var h windows.Handle
	if err := windows.NotifyIpInterfaceChange(windows.AF_UNSPEC, cb, nil, false, &h); err != nil {
		w.log.Warn("no interface change notifications", "err", err)
	} else {
		defer windows.CancelMibChangeNotify2(h) //nolint:errcheck // ends with the watch
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, path := range nrptKeys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.watchKey(ctx, path, note)
		}()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case why := <-notes:
			changed(why)
		}
	}
}

// watchKey waits for changes under a registry key until ctx ends. A key
// that does not exist yet (no VPN ever installed a rule) is looked for
// again each time.
func (w *windowsWatcher) watchKey(ctx context.Context, path string, note func(string)) {
	ev, err := windows.CreateEvent(nil, 0, 0, nil)
	if err != nil {
		return
	}
	defer windows.CloseHandle(ev) //nolint:errcheck // ends with the watch
	for ctx.Err() == nil {
		k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.NOTIFY)
		if err != nil {
			k, err = registry.OpenKey(registry.LOCAL_MACHINE, filepath.Dir(path), registry.NOTIFY)
			if err != nil {
				return
			}
		}
		err = windows.RegNotifyChangeKeyValue(windows.Handle(k), true,
			windows.REG_NOTIFY_CHANGE_NAME|windows.REG_NOTIFY_CHANGE_LAST_SET, ev, true)
		for err == nil && ctx.Err() == nil {
			r, _ := windows.WaitForSingleObject(ev, 1000)
			if r == windows.WAIT_OBJECT_0 {
				note("NRPT change " + path)
				break
			}
		}
		k.Close() //nolint:errcheck // re-opened above
		if err != nil {
			return
		}
	}
}
