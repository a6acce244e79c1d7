package kmod

import (
	"slices"
	"testing"
)

func TestOrphans(t *testing.T) {
	s := symbols{
		exporter: map[string]string{
			"ceph_osdc": "net/ceph/libceph.ko",
			"fscache":   "fs/netfs/netfs.ko",
			"rbd_dev":   "drivers/block/rbd.ko",
		},
		needs: map[string][]string{
			"net/ceph/libceph.ko":  {"printk"},
			"fs/ceph/ceph.ko":      {"printk", "ceph_osdc", "fscache"},
			"drivers/block/rbd.ko": {"ceph_osdc"},
			"fs/rbdfs/x.ko":        {"rbd_dev"}, // through rbd, two steps away
			"fs/nfs/nfs.ko":        {"fscache", "printk"},
			"fs/netfs/netfs.ko":    {"printk"},
		},
	}
	gone := map[string]bool{"net/ceph/libceph.ko": true}
	got := s.orphans(gone)
	want := []string{"drivers/block/rbd.ko", "fs/ceph/ceph.ko", "fs/rbdfs/x.ko"}
	if !slices.Equal(got, want) {
		t.Fatalf("orphans = %v, want %v", got, want)
	}
	for _, p := range []string{"fs/nfs/nfs.ko", "fs/netfs/netfs.ko"} {
		if gone[p] {
			t.Errorf("%s removed, though what it uses is kept or the kernel's", p)
		}
	}
}
