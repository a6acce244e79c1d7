//go:build linux

package kmod

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// A slice of Debian 6.1's modules.dep (paths shortened).
const depFile = `kernel/fs/overlayfs/overlay.ko:
kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/lib/crc16.ko:
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko:
kernel/net/bridge/br_netfilter.ko: kernel/net/bridge/bridge.ko kernel/net/802/stp.ko kernel/net/llc/llc.ko
kernel/net/bridge/bridge.ko: kernel/net/802/stp.ko kernel/net/llc/llc.ko
kernel/net/802/stp.ko: kernel/net/llc/llc.ko
kernel/net/llc/llc.ko:
kernel/net/netfilter/nft_compat.ko: kernel/net/netfilter/nf_tables.ko kernel/net/netfilter/nfnetlink.ko
kernel/net/netfilter/nf_tables.ko: kernel/net/netfilter/nfnetlink.ko
kernel/net/netfilter/nfnetlink.ko:
`

func testIndex(t *testing.T) *Index {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(depFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte("kernel/drivers/block/virtio_blk.ko\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	idx, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func TestResolveOrdersDependenciesFirst(t *testing.T) {
	idx := testIndex(t)
	got, err := idx.Resolve("br_netfilter", "ext4", "bridge", "nft-compat", "virtio_blk", "overlay.ko")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"kernel/net/llc/llc.ko",
		"kernel/net/802/stp.ko",
		"kernel/net/bridge/bridge.ko",
		"kernel/net/bridge/br_netfilter.ko",
		"kernel/fs/jbd2/jbd2.ko",
		"kernel/fs/mbcache.ko",
		"kernel/lib/crc16.ko",
		"kernel/fs/ext4/ext4.ko",
		"kernel/net/netfilter/nfnetlink.ko",
		"kernel/net/netfilter/nf_tables.ko",
		"kernel/net/netfilter/nft_compat.ko",
		"kernel/fs/overlayfs/overlay.ko",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("order:\n got %q\nwant %q", got, want)
	}
}

func TestResolveUnknownModule(t *testing.T) {
	_, err := testIndex(t).Resolve("overlay", "9p")
	if err == nil || !strings.Contains(err.Error(), "module 9p not found") {
		t.Fatalf("err = %v, want module 9p not found", err)
	}
}

func TestResolveCycle(t *testing.T) {
	idx, err := parseDep(strings.NewReader("a.ko: b.ko\nb.ko: a.ko\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := idx.Resolve("a"); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("err = %v, want a cycle error", err)
	}
}

func TestParseDepRejectsGarbage(t *testing.T) {
	if _, err := parseDep(strings.NewReader("kernel/x.ko\n")); err == nil {
		t.Fatal("want an error for a line without a colon")
	}
}

func TestOpenMissingIndex(t *testing.T) {
	if _, err := Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), "modules.dep") {
		t.Fatalf("err = %v, want it to name modules.dep", err)
	}
}

// The host's own index, when there is one, must resolve the modules guestd
// loads: a real modules.dep with tens of thousands of lines.
func TestResolveHostKernel(t *testing.T) {
	dir := filepath.Join("/lib/modules", uname(t))
	if _, err := os.Stat(filepath.Join(dir, "modules.dep")); err != nil {
		t.Skip("no module index for the running kernel")
	}
	idx, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	files, err := idx.Resolve("overlay", "br_netfilter")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("nothing to load")
	}
}

func uname(t *testing.T) string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		t.Skip(err)
	}
	return strings.TrimSpace(string(b))
}
