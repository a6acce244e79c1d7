package imagebuild

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/berthvm/berth/packaging/imagebuild/archive"
	"github.com/berthvm/berth/packaging/imagebuild/configure"
	"github.com/berthvm/berth/packaging/imagebuild/deb"
	"github.com/berthvm/berth/packaging/imagebuild/fstree"
	"github.com/berthvm/berth/packaging/imagebuild/resolve"
	"github.com/berthvm/berth/packaging/imagebuild/squashfs"
)

// Fetcher is what the builder needs of an archive client.
type Fetcher interface {
	Index(ctx context.Context, src *archive.Source, arch string) ([]*archive.Package, error)
	Deb(ctx context.Context, p *archive.Package) (string, error)
}

// Builder builds root filesystems.
type Builder struct {
	Fetch Fetcher
	Log   *slog.Logger
	Arch  string
	// Epoch is SOURCE_DATE_EPOCH: every timestamp written.
	Epoch time.Time
	// BzImage keeps an amd64 kernel the bzImage Debian ships, which
	// Apple's Virtualization framework boots on Intel Macs, instead of the
	// ELF vmlinux inside it that QEMU boots fastest (vmhost/vz/plan.go).
	BzImage bool
	// SystemData is how system.img holds files' data: compressed, or
	// stored for a package that compresses everything as one stream.
	SystemData squashfs.Data
}

// Root is a built root filesystem and what went into it.
type Root struct {
	Tree     *fstree.Tree
	Packages []*archive.Package
	Kernel   *Kernel // nil if the recipe has none
}

// Index fetches and indexes every suite of the recipe's sources.
func (b *Builder) Index(ctx context.Context, r *Recipe) (*resolve.Index, error) {
	var all []*archive.Package
	for _, s := range r.Sources {
		for _, suite := range s.Suites {
			pkgs, err := b.Fetch.Index(ctx, &archive.Source{Mirror: s.Mirror, Suite: suite}, b.Arch)
			if err != nil {
				return nil, err
			}
			all = append(all, pkgs...)
		}
	}
	return resolve.NewIndex(all), nil
}

// Build resolves, downloads, unpacks and configures the recipe's packages.
func (b *Builder) Build(ctx context.Context, r *Recipe) (*Root, error) {
	ix, err := b.Index(ctx, r)
	if err != nil {
		return nil, err
	}
	pkgs, err := ix.Resolve(resolve.Request{Packages: slices.Concat(ix.Base(), r.Packages), Exclude: r.Exclude})
	if err != nil {
		return nil, err
	}
	b.Log.Info("resolved", "packages", len(pkgs))
	tree := fstree.New()
	// Merged /usr from the start, so every package's /bin, /sbin and /lib
	// files land under /usr whatever order they unpack in.
	for _, d := range mergedUsr(b.Arch) {
		if err := tree.MkdirAll("/usr/"+d, 0o755); err != nil {
			return nil, err
		}
		if err := tree.Symlink("usr/"+d, "/"+d); err != nil {
			return nil, err
		}
	}
	if err := b.unpack(ctx, tree, pkgs); err != nil {
		return nil, err
	}
	root := &Root{Tree: tree, Packages: pkgs}
	if r.Kernel != "" {
		k, err := b.kernel(ctx, ix, r)
		if err != nil {
			return nil, err
		}
		if err := k.Install(tree); err != nil {
			return nil, err
		}
		root.Kernel = k
	}
	cfg := r.Configure
	cfg.Epoch = b.Epoch.Unix() / 86400
	if err := configure.Apply(tree, cfg); err != nil {
		return nil, err
	}
	return root, nil
}

// mergedUsr are the top-level directories that are symlinks into /usr on
// Debian 12 and later (usrmerge's list for the architecture).
func mergedUsr(arch string) []string {
	dirs := []string{"bin", "sbin", "lib"}
	if arch == "amd64" {
		dirs = append(dirs, "lib64")
	}
	return dirs
}

// unpack downloads and reads packages in parallel, then applies them to
// the tree one by one in name order, so the result does not depend on
// which download finished first.
func (b *Builder) unpack(ctx context.Context, tree *fstree.Tree, pkgs []*archive.Package) error {
	entries := make([][]deb.Entry, len(pkgs))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(runtime.GOMAXPROCS(0), 4))
	for i, p := range pkgs {
		g.Go(func() error {
			path, err := b.Fetch.Deb(ctx, p)
			if err != nil {
				return err
			}
			e, err := readDeb(path)
			if err != nil {
				return fmt.Errorf("package %s (%s): %w", p, path, err)
			}
			entries[i] = e
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, p := range pkgs {
		if err := deb.Apply(tree, entries[i]); err != nil {
			return fmt.Errorf("unpack %s: %w", p, err)
		}
	}
	return nil
}

func readDeb(path string) ([]deb.Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return deb.Read(f)
}

// Manifest lists the packages of a root, one "name version sha256" a line.
func (r *Root) Manifest() string {
	var b strings.Builder
	for _, p := range r.Packages {
		fmt.Fprintf(&b, "%s %s %s\n", p.Name, p.Version, p.SHA256)
	}
	return b.String()
}
