package imagebuild

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berthvm/berth/packaging/imagebuild/deb"
	"github.com/berthvm/berth/packaging/imagebuild/fstree"
)

// FetchPackages downloads the newest of each named package from the recipe's
// sources (verified as Build's are, dependencies not followed) and
// unpacks their data archives together into one tree: how the build gets
// single programs such as busybox-static or the docker CLI plugins
// without apt.
func (b *Builder) FetchPackages(ctx context.Context, r *Recipe, names []string) (*fstree.Tree, error) {
	ix, err := b.Index(ctx, r)
	if err != nil {
		return nil, err
	}
	tree := fstree.New()
	for _, name := range names {
		p := ix.Newest(name)
		if p == nil {
			return nil, fmt.Errorf("package %q is not in the archive's index", name)
		}
		path, err := b.Fetch.Deb(ctx, p)
		if err != nil {
			return nil, err
		}
		e, err := readDeb(path)
		if err != nil {
			return nil, fmt.Errorf("package %s (%s): %w", p, path, err)
		}
		if err := deb.Apply(tree, e); err != nil {
			return nil, fmt.Errorf("unpack %s: %w", p, err)
		}
		b.Log.Info("fetched", "package", p.String())
	}
	return tree, nil
}

// WriteFiles writes a tree's directories, regular files and symlinks
// under dir with their permissions (not their owners: no root needed).
func WriteFiles(t *fstree.Tree, dir string) error {
	return t.Walk(func(p string, n *fstree.Node) error {
		dst := filepath.Join(dir, filepath.FromSlash(p))
		switch {
		case n.IsDir():
			return os.MkdirAll(dst, 0o755)
		case n.Mode.IsRegular():
			return os.WriteFile(dst, n.Data, n.Mode.Perm()|0o200)
		case n.Mode&os.ModeSymlink != 0:
			os.Remove(dst)
			return os.Symlink(n.Target, dst)
		}
		return nil
	})
}
