package imagebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// fakeBzImage is the least of an x86 bzImage bootImage reads: the setup
// header's sector count and payload location, and a zstd payload that is
// a vmlinux.
func fakeBzImage() string {
	b := make([]byte, 2*512)
	b[0x1f1] = 1 // setup sectors: the payload area starts at 1024
	copy(b[0x202:], "HdrS")
	enc, _ := zstd.NewWriter(nil)
	vmlinux := fakeVmlinux()
	payload := enc.EncodeAll(vmlinux, nil)
	payload = binary.LittleEndian.AppendUint32(payload, uint32(len(vmlinux)))
	binary.LittleEndian.PutUint32(b[0x248:], 0)
	binary.LittleEndian.PutUint32(b[0x24c:], uint32(len(payload)))
	return string(append(b, payload...))
}

func fixtureWithKernel(t *testing.T) (*fakeArchive, *Recipe) {
	f := fixtureArchive(t)
	rel := "6.12.0-1-cloud-amd64"
	f.add(t, "linux-image-"+rel, "", false, []tar.Header{
		dir("./boot/"), file("./boot/vmlinuz-"+rel, 0o644),
		dir("./usr/lib/modules/" + rel + "/"), file("./usr/lib/modules/"+rel+"/modules.builtin", 0o644),
	}, map[string]string{"./boot/vmlinuz-" + rel: fakeBzImage(), "./usr/lib/modules/" + rel + "/modules.builtin": "kernel/fs/ext4/ext4.ko\n"})
	f.add(t, "linux-image-cloud-amd64", "linux-image-"+rel, false, nil, nil)
	r := fixtureRecipe()
	r.Kernel = "linux-image-cloud-{arch}"
	r.InitrdModules = []string{"ext4"}
	return f, r
}

// TestReproducible: two builds of the same packages with the same epoch
// give byte-identical images.
func TestReproducible(t *testing.T) {
	f, r := fixtureWithKernel(t)
	build := func() *Image {
		b := testBuilder(f)
		root, err := b.Build(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		img, err := b.Assemble(r, root, Extras{Guestd: []byte("guestd"), Images: map[string][]byte{"welcome.tar": []byte("tar")}})
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	a, b := build(), build()
	for name, pair := range map[string][2][]byte{
		"system.img": {a.System, b.System}, "initrd.img": {a.Initrd, b.Initrd},
		"vmlinuz": {a.Kernel, b.Kernel}, "manifest.json": {a.Manifest, b.Manifest},
	} {
		if !bytes.Equal(pair[0], pair[1]) {
			t.Errorf("%s differs between two builds", name)
		}
	}
	if want, _ := compactELF(fakeVmlinux()); !bytes.Equal(a.Kernel, want) {
		t.Errorf("vmlinuz is not the bzImage's ELF payload, compacted")
	}
	if !bytes.Contains(a.Manifest, []byte(`"release": "6.12.0-1-cloud-amd64"`)) || !bytes.Contains(a.Manifest, []byte(`"daemon": {`)) {
		t.Errorf("manifest:\n%s", a.Manifest)
	}
}

// amd64 kernels: the ELF inside the bzImage for QEMU, or the bzImage as it
// is for vz on Intel Macs; anything without the boot header is refused.
func TestBootImageFormats(t *testing.T) {
	bz := []byte(fakeBzImage())
	elf, err := bootImage("amd64", false, bz)
	if want, _ := compactELF(fakeVmlinux()); err != nil || !bytes.Equal(elf, want) {
		t.Fatalf("ELF: %d bytes, %v", len(elf), err)
	}
	kept, err := bootImage("amd64", true, bz)
	if err != nil || string(kept) != string(bz) {
		t.Fatalf("bzImage kept: %v", err)
	}
	if _, err := bootImage("amd64", true, []byte("\x7fELF not a bzImage, long enough to have a header at 0x202 ...")); err == nil {
		t.Fatal("an ELF file passed for a bzImage")
	}
}

// An initrd module the kernel neither ships nor has built in (a typo, or
// one pruned away with what it needs) refuses the build: the initrd could
// not reach its disk.
func TestInitrdModuleUnknown(t *testing.T) {
	f, r := fixtureWithKernel(t)
	r.InitrdModules = []string{"ext4", "hv_storvsc"}
	b := testBuilder(f)
	root, err := b.Build(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Assemble(r, root, Extras{Guestd: []byte("guestd")})
	if err == nil || !strings.Contains(err.Error(), "initrd module hv_storvsc") {
		t.Fatalf("Assemble = %v, want an error naming hv_storvsc", err)
	}
}
