// Package assets holds the files Berth embeds and installs: the app icon
// (icons/berth.svg, rendered here for the GUI and the packages' PNGs) and
// the Linux desktop entry (linux/).
package assets

import (
	"bytes"
	_ "embed"
	"fmt"
	"image"

	"github.com/fyne-io/oksvg"
	"github.com/srwiley/rasterx"
)

// AppID names the app to desktops: the desktop entry's file name, the icon's
// name and the GUI's application ID (autostart.Label) are all this.
const AppID = "dev.berth.Berth"

//go:embed icons/berth.svg
var iconSVG []byte

// Icon renders the app icon as a size×size image. It is rendered in
// process, with the SVG library fyne itself uses, so the window, the tray
// and the installed PNGs come from the one SVG with no tool on the build
// machine.
func Icon(size int) (*image.NRGBA, error) {
	if size < 1 {
		return nil, fmt.Errorf("icon size %d: must be at least 1 pixel", size)
	}
	icon, err := oksvg.ReadIconStream(bytes.NewReader(iconSVG), oksvg.StrictErrorMode)
	if err != nil {
		return nil, fmt.Errorf("app icon: %w", err)
	}
	icon.SetTarget(0, 0, float64(size), float64(size))
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	scanner := rasterx.NewScannerGV(size, size, img, img.Bounds())
	icon.Draw(rasterx.NewDasher(size, size, scanner), 1)
	return img, nil
}
