package imagebuild

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sync/errgroup"

	"github.com/berthvm/berth/packaging/imagebuild/archive"
	"github.com/berthvm/berth/packaging/imagebuild/deb"
	"github.com/berthvm/berth/packaging/imagebuild/fstree"
	"github.com/berthvm/berth/packaging/imagebuild/kmod"
	"github.com/berthvm/berth/packaging/imagebuild/resolve"
)

// Kernel is the guest's kernel: the bootable image and its modules.
type Kernel struct {
	Package *archive.Package
	Release string
	Image   []byte       // what the VM boots: ELF vmlinux (amd64), Image (arm64)
	Shipped []byte       // /boot/vmlinuz as Debian ships it (amd64: the bzImage an EFI stub boots)
	Modules *fstree.Node // the /usr/lib/modules/<release> directory
	Deps    map[string][]string
	Builtin map[string]bool // names of the modules built into the image
}

// kernel finds the recipe's kernel metapackage's image package (it depends
// on exactly one linux-image-<version>-<flavour>), unpacks it alone (its own
// dependencies, initramfs-tools and the like, are for installed systems),
// prunes and uncompresses its modules and computes their dependencies.
func (b *Builder) kernel(ctx context.Context, ix *resolve.Index, r *Recipe) (*Kernel, error) {
	meta := strings.ReplaceAll(r.Kernel, "{arch}", b.Arch)
	p := ix.Newest(meta)
	if p == nil {
		return nil, fmt.Errorf("kernel package %q is not in the archive's index", meta)
	}
	for _, alts := range p.Depends {
		if n := alts[0].Name; strings.HasPrefix(n, "linux-image-") && n[len("linux-image-")] >= '0' && n[len("linux-image-")] <= '9' {
			if p = ix.Newest(n); p == nil {
				return nil, fmt.Errorf("kernel %s depends on %s, which is not in the index", meta, n)
			}
			break
		}
	}
	path, err := b.Fetch.Deb(ctx, p)
	if err != nil {
		return nil, err
	}
	entries, err := readDeb(path)
	if err != nil {
		return nil, fmt.Errorf("kernel %s: %w", p, err)
	}
	kt := fstree.New()
	if err := deb.Apply(kt, entries); err != nil {
		return nil, fmt.Errorf("kernel %s: %w", p, err)
	}
	k := &Kernel{Package: p}
	for _, dir := range []string{"/usr/lib/modules", "/lib/modules"} {
		if d := kt.Get(dir); d != nil && d.IsDir() {
			if names := d.Names(); len(names) == 1 {
				k.Release, k.Modules = names[0], d.Child(names[0])
				break
			}
			return nil, fmt.Errorf("kernel %s: want one release under %s, found %v", p, dir, d.Names())
		}
	}
	if k.Modules == nil {
		return nil, fmt.Errorf("kernel %s has no modules directory", p)
	}
	vmlinuz := kt.Get("/boot/vmlinuz-" + k.Release)
	if vmlinuz == nil {
		return nil, fmt.Errorf("kernel %s has no /boot/vmlinuz-%s", p, k.Release)
	}
	k.Shipped = vmlinuz.Data
	if k.Image, err = bootImage(b.Arch, b.BzImage, vmlinuz.Data); err != nil {
		return nil, fmt.Errorf("kernel %s: %w", p, err)
	}
	mt := &fstree.Tree{Root: k.Modules}
	if err := uncompressModules(ctx, mt); err != nil {
		return nil, fmt.Errorf("kernel %s: %w", p, err)
	}
	var all []kmod.Module
	if err := mt.Walk(func(p string, n *fstree.Node) error {
		if strings.HasSuffix(p, ".ko") {
			all = append(all, kmod.Module{Path: strings.TrimPrefix(p, "/"), ELF: n.Data})
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("kernel %s: %w", p, err)
	}
	mods, orphans, err := kmod.Prune(all, func(path string) bool {
		return slices.ContainsFunc(r.KernelPrune, func(d string) bool {
			d = "kernel/" + d
			return path == d || strings.HasPrefix(path, d+"/")
		})
	})
	if err != nil {
		return nil, fmt.Errorf("kernel %s: %w", p, err)
	}
	for _, d := range r.KernelPrune {
		mt.Remove("/kernel/" + d)
	}
	for _, o := range orphans {
		mt.Remove("/" + o)
	}
	if len(orphans) > 0 {
		b.Log.Info("kernel modules pruned for what they use", "modules", orphans)
	}
	var builtin []byte
	if n := mt.Get("/modules.builtin"); n != nil {
		builtin = n.Data
	}
	k.Builtin = map[string]bool{}
	for _, p := range strings.Fields(string(builtin)) {
		k.Builtin[kmod.Name(p)] = true
	}
	files, deps, err := kmod.Files(mods, builtin)
	if err != nil {
		return nil, fmt.Errorf("kernel %s: %w", p, err)
	}
	k.Deps = deps
	for name, data := range files {
		if err := mt.WriteFile("/"+name, data, 0o644); err != nil {
			return nil, err
		}
	}
	b.Log.Info("kernel", "package", p.String(), "release", k.Release, "modules", len(mods))
	return k, nil
}

// Install puts the modules at /usr/lib/modules/<release>.
func (k *Kernel) Install(t *fstree.Tree) error {
	if err := t.MkdirAll("/usr/lib/modules", 0o755); err != nil {
		return err
	}
	return t.Put("/usr/lib/modules/"+k.Release, k.Modules)
}

// uncompressModules turns every .ko.xz (Debian 13 compresses all) into a
// .ko: under emulation a compressed module costs its decompression at
// every boot (README "Guest kernel").
func uncompressModules(ctx context.Context, mt *fstree.Tree) error {
	var paths []string
	if err := mt.Walk(func(p string, n *fstree.Node) error {
		if strings.HasSuffix(p, ".ko.xz") {
			paths = append(paths, p)
		}
		return nil
	}); err != nil {
		return err
	}
	out := make([][]byte, len(paths))
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, p := range paths {
		g.Go(func() error {
			r, err := xz.NewReader(bytes.NewReader(mt.Get(p).Data))
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			if out[i], err = io.ReadAll(r); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, p := range paths {
		n := mt.Get(p)
		mt.Remove(p)
		if err := mt.Put(strings.TrimSuffix(p, ".xz"), &fstree.Node{Mode: n.Mode, UID: n.UID, GID: n.GID, Data: out[i]}); err != nil {
			return err
		}
	}
	return nil
}

// bootImage makes Debian's vmlinuz what the VMs boot fastest or at all.
// amd64: the ELF vmlinux inside the bzImage, which QEMU boots through its
// PVH entry point, skipping seconds of decompression under emulation; or,
// with bz, the bzImage itself, which vz boots on Intel Macs.
// arm64: an uncompressed Image, the only kind Apple's Virtualization
// framework boots.
func bootImage(arch string, bz bool, vmlinuz []byte) ([]byte, error) {
	switch arch {
	case "amd64":
		if len(vmlinuz) < 0x250 || string(vmlinuz[0x202:0x206]) != "HdrS" {
			return nil, fmt.Errorf("vmlinuz is not a bzImage (no HdrS boot header)")
		}
		if bz {
			return vmlinuz, nil
		}
		// The boot protocol header: setup sectors at 0x1f1, the compressed
		// payload's offset (after setup) and length at 0x248 and 0x24c; its
		// last 4 bytes are the uncompressed size.
		sects := int(vmlinuz[0x1f1])
		if sects == 0 {
			sects = 4
		}
		off := (sects+1)*512 + int(binary.LittleEndian.Uint32(vmlinuz[0x248:]))
		n := int(binary.LittleEndian.Uint32(vmlinuz[0x24c:])) - 4
		if off < 0 || n < 0 || off+n > len(vmlinuz) {
			return nil, fmt.Errorf("bzImage payload out of bounds")
		}
		payload := vmlinuz[off : off+n]
		var elf []byte
		switch {
		case bytes.HasPrefix(payload, []byte{0x28, 0xb5, 0x2f, 0xfd}):
			d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<31))
			if err != nil {
				return nil, err
			}
			defer d.Close()
			if elf, err = d.DecodeAll(payload, nil); err != nil {
				return nil, fmt.Errorf("kernel payload (zstd): %w", err)
			}
		case bytes.HasPrefix(payload, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
			r, err := xz.NewReader(bytes.NewReader(payload))
			if err != nil {
				return nil, err
			}
			r.SingleStream = true
			if elf, err = io.ReadAll(r); err != nil {
				return nil, fmt.Errorf("kernel payload (xz): %w", err)
			}
		default:
			return vmlinuz, nil // e.g. LZ4: booted as it is
		}
		if !bytes.HasPrefix(elf, []byte("\x7fELF")) {
			return nil, fmt.Errorf("the kernel's compressed payload is not an ELF image")
		}
		return compactELF(elf)
	case "arm64":
		img := vmlinuz
		if bytes.HasPrefix(img, []byte{0x1f, 0x8b}) {
			r, err := gzip.NewReader(bytes.NewReader(img))
			if err != nil {
				return nil, err
			}
			if img, err = io.ReadAll(r); err != nil {
				return nil, fmt.Errorf("kernel Image.gz: %w", err)
			}
		}
		if len(img) < 0x3c || string(img[0x38:0x3c]) != "ARM\x64" {
			return nil, fmt.Errorf("the arm64 kernel is not an uncompressed Image (no ARM\\x64 magic at 0x38)")
		}
		return img, nil
	}
	return nil, fmt.Errorf("no boot image rule for architecture %s", arch)
}

// InitrdModules returns the module files (relative to the modules
// directory) to load names, dependencies included, sorted. A name built
// into the kernel needs none; a name that is neither, a typo or a module
// pruned away, is an error rather than an initrd that cannot reach its
// disk.
func (k *Kernel) InitrdModules(names []string) ([]string, error) {
	byName := map[string]string{}
	for p := range k.Deps {
		byName[kmod.Name(p)] = p
	}
	set := map[string]bool{}
	for _, n := range names {
		p, ok := byName[n]
		if !ok {
			if k.Builtin[n] {
				continue
			}
			return nil, fmt.Errorf("initrd module %s is neither a module of kernel %s nor built into it", n, k.Release)
		}
		set[p] = true
		for _, d := range k.Deps[p] {
			set[d] = true
		}
	}
	return slices.Sorted(maps.Keys(set)), nil
}
