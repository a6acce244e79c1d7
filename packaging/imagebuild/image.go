package imagebuild

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/berthvm/berth/packaging/imagebuild/cpio"
	"github.com/berthvm/berth/packaging/imagebuild/fstree"
	"github.com/berthvm/berth/packaging/imagebuild/squashfs"
)

// Extras are what goes into the image besides Debian's packages.
type Extras struct {
	Guestd []byte            // PID 1, in the initrd and the system image
	Images map[string][]byte // preloaded image archives, by file name
}

// Image is a guest image's files.
type Image struct {
	System, Initrd, Kernel []byte
	Manifest               []byte
}

// Assemble adds guestd and the images to the root, and writes the system
// image (squashfs), the initrd (cpio) and the manifest.
func (b *Builder) Assemble(r *Recipe, root *Root, x Extras) (*Image, error) {
	if root.Kernel == nil {
		return nil, fmt.Errorf("the recipe has no kernel")
	}
	t := root.Tree
	if err := t.WriteFile("/usr/sbin/guestd", x.Guestd, 0o755); err != nil {
		return nil, err
	}
	for _, d := range []string{"/usr/share/berth/images", "/mnt/data", "/var/lib/berth"} {
		if err := t.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	for name, data := range x.Images {
		if err := t.WriteFile("/usr/share/berth/images/"+name, data, 0o644); err != nil {
			return nil, err
		}
	}
	var sys bytes.Buffer
	if err := squashfs.Write(&sys, t, b.Epoch, b.SystemData); err != nil {
		return nil, fmt.Errorf("system image: %w", err)
	}

	// The initrd: guestd as /init, /dev/console for its first output, and
	// the modules (with dependencies) that mount the system image.
	k := root.Kernel
	ird := fstree.New()
	if err := errors.Join(ird.WriteFile("/init", x.Guestd, 0o755),
		ird.Put("/dev/console", &fstree.Node{Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, Major: 5, Minor: 1})); err != nil {
		return nil, fmt.Errorf("initrd: %w", err)
	}
	mods := "/lib/modules/" + k.Release
	mt := &fstree.Tree{Root: k.Modules}
	for _, f := range []string{"modules.dep", "modules.builtin"} {
		n := mt.Get(f)
		if n == nil {
			return nil, fmt.Errorf("kernel %s has no %s", k.Release, f)
		}
		if err := ird.Put(mods+"/"+f, &fstree.Node{Mode: 0o644, Data: n.Data}); err != nil {
			return nil, fmt.Errorf("initrd: %w", err)
		}
	}
	names := append(append([]string{}, r.InitrdModules...), r.InitrdModulesArch[b.Arch]...)
	initrdMods, err := k.InitrdModules(names)
	if err != nil {
		return nil, err
	}
	for _, p := range initrdMods {
		if err := ird.Put(mods+"/"+p, &fstree.Node{Mode: 0o644, Data: mt.Get(p).Data}); err != nil {
			return nil, fmt.Errorf("initrd: %w", err)
		}
	}
	var initrd bytes.Buffer
	if err := cpio.Write(&initrd, ird, b.Epoch); err != nil {
		return nil, fmt.Errorf("initrd: %w", err)
	}
	img := &Image{System: sys.Bytes(), Initrd: initrd.Bytes(), Kernel: k.Image}
	if img.Manifest, err = manifest(b.Arch, root, x, img); err != nil {
		return nil, err
	}
	return img, nil
}

type fileSum struct {
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
}

type packageSum struct {
	Version string `json:"version"`
	SHA256  string `json:"sha256"` // of the .deb
}

// manifest is the old builder's manifest.json (arch, Debian release,
// kernel, guestd, images, files) with each package's .deb checksum too.
func manifest(arch string, root *Root, x Extras, img *Image) ([]byte, error) {
	codename := ""
	if n := root.Tree.Get("/usr/lib/os-release"); n != nil {
		for _, line := range strings.Split(string(n.Data), "\n") {
			if v, ok := strings.CutPrefix(line, "VERSION_CODENAME="); ok {
				codename = v
			}
		}
	}
	m := struct {
		Arch     string                `json:"arch"`
		Debian   string                `json:"debian"`
		Kernel   map[string]string     `json:"kernel"`
		Guestd   string                `json:"guestd"`
		Packages map[string]packageSum `json:"packages"`
		Images   []string              `json:"images"`
		Files    map[string]fileSum    `json:"files"`
	}{
		Arch: arch, Debian: codename, Guestd: sum(x.Guestd),
		Kernel:   map[string]string{"package": root.Kernel.Package.Name, "version": root.Kernel.Package.Version.String(), "release": root.Kernel.Release, "sha256": root.Kernel.Package.SHA256},
		Packages: map[string]packageSum{}, Images: []string{},
		Files: map[string]fileSum{
			"vmlinuz":    {len(img.Kernel), sum(img.Kernel)},
			"initrd.img": {len(img.Initrd), sum(img.Initrd)},
			"system.img": {len(img.System), sum(img.System)},
		},
	}
	for _, p := range root.Packages {
		m.Packages[p.Name] = packageSum{p.Version.String(), p.SHA256}
	}
	for name := range x.Images {
		m.Images = append(m.Images, name)
	}
	slices.Sort(m.Images)
	b, err := json.MarshalIndent(m, "", "  ")
	return append(b, '\n'), err
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// WriteDir writes the image's files into dir, the manifest last so that
// its presence means the image is whole.
func (img *Image) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	os.Remove(filepath.Join(dir, "manifest.json"))
	for _, f := range []struct {
		name string
		data []byte
	}{{"vmlinuz", img.Kernel}, {"initrd.img", img.Initrd}, {"system.img", img.System}, {"manifest.json", img.Manifest}} {
		tmp := filepath.Join(dir, f.name+".tmp")
		if err := os.WriteFile(tmp, f.data, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, f.name)); err != nil {
			return err
		}
	}
	return nil
}
