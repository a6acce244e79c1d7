// Command mkguest builds Berth's guest image from Debian's archive with the
// Go builder (packaging/imagebuild): no root, no Debian tools, any OS.
//
//	mkguest -recipe packaging/guest/recipe.json -arch arm64 -guestd build/bin/guestd-arm64 -out build/guest-go/arm64
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
	"time"

	"github.com/berthvm/berth/packaging/imagebuild"
	"github.com/berthvm/berth/packaging/imagebuild/archive"
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
	flag.Parse()
	if *out == "" || *guestd == "" {
		return fmt.Errorf("-out and -guestd are required")
	}
	x := imagebuild.Extras{Images: map[string][]byte{}}
	var err error
	if x.Guestd, err = os.ReadFile(*guestd); err != nil {
		return err
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
	epoch, err := sourceDateEpoch()
	if err != nil {
		return err
	}
	client, err := archive.NewClient(*cache, log)
	if err != nil {
		return err
	}
	b := &imagebuild.Builder{Fetch: client, Log: log, Arch: *arch, Epoch: epoch, BzImage: *bzImage}
	start := time.Now()
	root, err := b.Build(ctx, r)
	if err != nil {
		return err
	}
	log.Info("root filesystem built", "packages", len(root.Packages), "took", time.Since(start).Round(time.Millisecond))
	if *tarOut != "" {
		f, err := os.Create(*tarOut)
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
