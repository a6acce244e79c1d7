// Command mkguest builds Berth's guest image from Debian's archive with the
// Go builder (packaging/imagebuild): no root, no Debian tools, any OS.
//
//	mkguest -recipe packaging/guest/recipe.json -arch arm64 -guestd build/bin/guestd-arm64 -out build/guest/arm64
//
// With -root-only it writes the root filesystem alone, as the -tar file (no
// guestd, no image): the Debian 13 host root the e2e suite runs libvirt in.
//
//	mkguest -recipe packaging/host/recipe.json -root-only -tar build/cache/host-trixie/root.tar
//
// With -fetch it only downloads and unpacks the named packages (no
// dependencies) from the recipe's sources into -out:
//
//	mkguest -fetch busybox-static -arch amd64 -out build/cache/busybox-deb
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berthvm/berth/packaging/imagebuild"
	"github.com/berthvm/berth/packaging/imagebuild/archive"
	"github.com/berthvm/berth/packaging/imagebuild/fstree"
	"github.com/berthvm/berth/packaging/imagebuild/squashfs"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mkguest:", err)
		os.Exit(1)
	}
}

func run() error {
	recipe := flag.String("recipe", "packaging/guest/recipe.json", "the image's recipe")
	arch := flag.String("arch", "amd64", "Debian architecture: amd64 or arm64")
	cache := flag.String("cache", "build/cache/debs", "downloaded .debs, by SHA-256")
	out := flag.String("out", "", "output directory")
	mirror := flag.String("mirror", "", "replaces the recipe's first mirror (Debian's archive)")
	security := flag.String("security-mirror", "", "replaces the recipe's second mirror (Debian's security archive)")
	tarOut := flag.String("tar", "", "also write the root filesystem as this tar file, for inspection")
	guestd := flag.String("guestd", "", "the guestd binary for the architecture")
	images := flag.String("images", "", "directory of image archives (*.tar) to preload")
	bzImage := flag.Bool("bzimage", false, "amd64: keep the kernel a bzImage (what vz boots on Intel Macs) rather than the ELF vmlinux QEMU boots fastest")
	suite := flag.String("suite", "", "build from this Debian release instead of the recipe's (bookworm: the engine-upgrade test's image)")
	kernel := flag.String("kernel", "", "the kernel metapackage instead of the recipe's, {arch} replaced (linux-image-{arch}: the generic kernel, with 9p)")
	kernelOut := flag.String("kernel-shipped", "", "also write the kernel as Debian ships it (amd64: the bzImage an EFI stub boots) to this file")
	modulesOut := flag.String("modules-list", "", "also write the kernel's modules, one path (under kernel/) a line, to this file")
	fetch := flag.String("fetch", "", "comma-separated packages: only download and unpack them into -out")
	uncompressed := flag.Bool("uncompressed", false, "store system.img's file data uncompressed: larger, but a package that compresses all its files as one (the .deb, the Windows installer) is then smaller")
	rootOnly := flag.Bool("root-only", false, "write only the root filesystem, as the -tar file (no guestd, no image)")
	flag.Parse()
	switch {
	case *rootOnly:
		if *tarOut == "" {
			return fmt.Errorf("-root-only needs -tar")
		}
	case *out == "" || (*guestd == "" && *fetch == ""):
		return fmt.Errorf("-out and -guestd (or -fetch) are required")
	}
	x := imagebuild.Extras{Images: map[string][]byte{}}
	var err error
	if *fetch == "" && !*rootOnly {
		if x.Guestd, err = os.ReadFile(*guestd); err != nil {
			return err
		}
	}
	if *images != "" {
		tars, err := filepath.Glob(filepath.Join(*images, "*.tar"))
		if err != nil {
			return err
		}
		for _, p := range tars {
			if x.Images[filepath.Base(p)], err = os.ReadFile(p); err != nil {
				return err
			}
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	r, err := imagebuild.LoadRecipe(*recipe)
	if err != nil {
		return err
	}
	for i, m := range []string{*mirror, *security} {
		if m != "" && i < len(r.Sources) {
			r.Sources[i].Mirror = m
		}
	}
	if *suite != "" {
		r.WithSuite(*suite)
	}
	if *kernel != "" {
		r.Kernel = *kernel
	}
	epoch, err := sourceDateEpoch()
	if err != nil {
		return err
	}
	client, err := archive.NewClient(*cache, log)
	if err != nil {
		return err
	}
	b := &imagebuild.Builder{Fetch: client, Log: log, Arch: *arch, Epoch: epoch, BzImage: *bzImage}
	if *uncompressed {
		b.SystemData = squashfs.Stored
	}
	start := time.Now()
	if *fetch != "" {
		t, err := b.FetchPackages(ctx, r, strings.Split(*fetch, ","))
		if err != nil {
			return err
		}
		return imagebuild.WriteFiles(t, *out)
	}
	root, err := b.Build(ctx, r)
	if err != nil {
		return err
	}
	if *kernelOut != "" && root.Kernel != nil {
		if err := os.MkdirAll(filepath.Dir(*kernelOut), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(*kernelOut, root.Kernel.Shipped, 0o644); err != nil {
			return err
		}
	}
	log.Info("root filesystem built", "packages", len(root.Packages), "took", time.Since(start).Round(time.Millisecond))
	if *tarOut != "" {
		if err := writeTar(root, *tarOut, epoch); err != nil {
			return err
		}
		if *rootOnly {
			return nil
		}
	}
	if *modulesOut != "" && root.Kernel != nil {
		var list strings.Builder
		if err := (&fstree.Tree{Root: root.Kernel.Modules}).Walk(func(p string, n *fstree.Node) error {
			if strings.HasSuffix(p, ".ko") {
				list.WriteString(strings.TrimPrefix(p, "/") + "\n")
			}
			return nil
		}); err != nil {
			return err
		}
		if err := os.WriteFile(*modulesOut, []byte(list.String()), 0o644); err != nil {
			return err
		}
	}
	img, err := b.Assemble(r, root, x)
	if err != nil {
		return err
	}
	if err := img.WriteDir(*out); err != nil {
		return err
	}
	log.Info("guest image written", "dir", *out, "system.img", len(img.System), "initrd.img", len(img.Initrd), "vmlinuz", len(img.Kernel), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// writeTar writes the root filesystem to path, whole or not at all.
func writeTar(root *imagebuild.Root, path string, epoch time.Time) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path + ".part")
	if err != nil {
		return err
	}
	if err := root.Tree.WriteTar(f, epoch); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(path+".part", path)
}

// sourceDateEpoch is SOURCE_DATE_EPOCH, the time stamped on everything
// written, or 0 when unset: an image's bytes depend only on its inputs.
func sourceDateEpoch() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
	}
	return time.Unix(n, 0).UTC(), nil
}
