// Command mkicons renders the app icon (assets/icons/berth.svg) as PNGs in
// a freedesktop icon theme layout, for the Linux package, and as a macOS
// icon file (.icns) for Berth.app:
//
//	mkicons -o DIR [-sizes 16,24,32,48,64,128,256,512]
//	mkicons -icns FILE
//
// -o writes DIR/NxN/apps/<app ID>.png for each size; -icns writes FILE
// with the PNGs macOS asks for, 32 to 1024 pixels (icns.go). Both may be
// given. It uses the renderer the GUI uses for its own window and tray, so
// all show the same pixels.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/berthvm/berth/assets"
	"github.com/berthvm/berth/internal/atomicfile"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "mkicons:", err)
		}
		os.Exit(2)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("mkicons", flag.ContinueOnError)
	out := fs.String("o", "", "theme directory to write (e.g. …/share/icons/hicolor)")
	sizes := fs.String("sizes", "16,24,32,48,64,128,256,512", "comma-separated pixel sizes")
	icnsFile := fs.String("icns", "", "macOS icon file to write (e.g. …/Berth.app/Contents/Resources/berth.icns)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" && *icnsFile == "" || fs.NArg() > 0 {
		return errors.New("usage: mkicons -o DIR [-sizes 16,32,...] | -icns FILE")
	}
	if *icnsFile != "" {
		data, err := icns(renderPNG)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(*icnsFile), 0o755); err != nil {
			return err
		}
		if err := atomicfile.Write(*icnsFile, data, 0o644); err != nil {
			return err
		}
	}
	if *out == "" {
		return nil
	}
	for _, s := range strings.Split(*sizes, ",") {
		size, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || size < 1 {
			return fmt.Errorf("size %q: want a whole number of pixels", s)
		}
		if err := write(*out, size); err != nil {
			return err
		}
	}
	return nil
}

// renderPNG is the icon at size pixels square, as a PNG.
func renderPNG(size int) ([]byte, error) {
	img, err := assets.Icon(size)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("icon %dx%d: %w", size, size, err)
	}
	return b.Bytes(), nil
}

func write(dir string, size int) error {
	data, err := renderPNG(size)
	if err != nil {
		return err
	}
	p := filepath.Join(dir, fmt.Sprintf("%dx%d", size, size), "apps", assets.AppID+".png")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := atomicfile.Write(p, data, 0o644); err != nil {
		return fmt.Errorf("icon %dx%d: %w", size, size, err)
	}
	return nil
}
