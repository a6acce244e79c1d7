package configure

import (
	"strings"
	"testing"

	"github.com/berthvm/berth/packaging/imagebuild/fstree"
)

func TestApply(t *testing.T) {
	tr := fstree.New()
	tr.WriteFile("/usr/share/base-passwd/passwd.master", []byte("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"), 0o644)
	tr.WriteFile("/usr/share/base-passwd/group.master", []byte("root:x:0:\ndaemon:x:1:\nshadow:x:42:\nusers:x:100:\n"), 0o644)
	tr.WriteFile("/usr/sbin/iptables-nft", []byte("elf"), 0o755)
	tr.WriteFile("/usr/share/ca-certificates/mozilla/B.crt", []byte("B"), 0o644)
	tr.WriteFile("/usr/share/ca-certificates/mozilla/A.crt", []byte("A\n"), 0o644)
	tr.WriteFile("/usr/share/doc/x/README", nil, 0o644)
	tr.WriteFile("/usr/bin/ctr", nil, 0o755)
	err := Apply(tr, Config{
		Groups:       []string{"docker", "users"},
		Alternatives: []Alternative{{Name: "iptables", Link: "/usr/sbin/iptables", Target: "/usr/sbin/iptables-nft"}},
		Remove:       []string{"/usr/share/doc", "/usr/bin/ctr"},
		Files:        map[string]string{"/etc/hostname": "berth\n"},
		Epoch:        20000,
	})
	if err != nil {
		t.Fatal(err)
	}
	if g := string(tr.Get("/etc/group").Data); g != "root:x:0:\ndaemon:x:1:\nshadow:x:42:\nusers:x:100:\ndocker:x:101:\n" {
		t.Errorf("group:\n%s", g)
	}
	sh := tr.Get("/etc/shadow")
	if !strings.HasPrefix(string(sh.Data), "root:*:20000:0:99999:7:::\n") || sh.Mode != 0o640 || sh.GID != 42 {
		t.Errorf("shadow: %+v %q", sh, sh.Data)
	}
	if l := tr.Get("/usr/sbin/iptables"); l == nil || l.Target != "/etc/alternatives/iptables" || tr.Get("/etc/alternatives/iptables").Target != "/usr/sbin/iptables-nft" {
		t.Error("iptables alternative not made")
	}
	if b := string(tr.Get("/etc/ssl/certs/ca-certificates.crt").Data); b != "A\nB\n" {
		t.Errorf("bundle %q", b)
	}
	if tr.Get("/usr/share/doc") != nil || tr.Get("/usr/bin/ctr") != nil {
		t.Error("remove left files")
	}
	if string(tr.Get("/etc/hostname").Data) != "berth\n" {
		t.Error("hostname")
	}

	// System users, each with its own group, members of others.
	tr = fstree.New()
	tr.WriteFile("/usr/share/base-passwd/passwd.master", []byte("root:x:0:0:root:/root:/bin/bash\nsystemd:x:100:100::/:/bin/false\n"), 0o644)
	tr.WriteFile("/usr/share/base-passwd/group.master", []byte("root:x:0:\nshadow:x:42:\nusers:x:100:\n"), 0o644)
	if err := Apply(tr, Config{
		Groups: []string{"kvm"},
		Users:  []User{{Name: "libvirt-qemu", Home: "/var/lib/libvirt", Groups: []string{"kvm", "users"}}},
		Dirs:   []string{"/var/lib/libvirt/qemu", "/var/run"},
		Links:  map[string]string{"/var/run": "/run"},
	}); err != nil {
		t.Fatal(err)
	}
	if g := string(tr.Get("/etc/group").Data); g != "root:x:0:\nshadow:x:42:\nusers:x:100:libvirt-qemu\nkvm:x:101:libvirt-qemu\nlibvirt-qemu:x:102:\n" {
		t.Errorf("group with users:\n%s", g)
	}
	if p := string(tr.Get("/etc/passwd").Data); !strings.HasSuffix(p, "\nlibvirt-qemu:x:101:102::/var/lib/libvirt:/usr/sbin/nologin\n") {
		t.Errorf("passwd with users:\n%s", p)
	}
	if sh := string(tr.Get("/etc/shadow").Data); !strings.Contains(sh, "\nlibvirt-qemu:*:") {
		t.Errorf("shadow with users:\n%s", sh)
	}
	if d := tr.Get("/var/lib/libvirt/qemu"); d == nil || !d.IsDir() {
		t.Error("dirs: /var/lib/libvirt/qemu not made")
	}
	if l := tr.Get("/var/run"); l == nil || l.Target != "/run" {
		t.Errorf("links: /var/run is %+v", l)
	}
	if err := Apply(tr, Config{Users: []User{{Name: "x", Groups: []string{"nosuch"}}}}); err == nil {
		t.Error("a user in a group that does not exist was accepted")
	}
	err = Apply(tr, Config{Alternatives: []Alternative{{Name: "awk", Link: "/usr/bin/awk", Target: "/usr/bin/mawk"}}})
	if err == nil || !strings.Contains(err.Error(), "/usr/bin/mawk") {
		t.Errorf("missing target: %v", err)
	}
}
