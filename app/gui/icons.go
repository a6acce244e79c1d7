package gui

import (
	"bytes"
	"image/color"
	"image/png"

	"fyne.io/fyne/v2"

	"github.com/berthvm/berth/assets"
)

// Berth's icons come from the app icon the packages install (assets), and
// for the tray the same icon with the machine's state as a dot. Tray icons
// must be PNG.
var (
	appIcon   = fyne.NewStaticResource("berth.png", drawIcon(256, nil))
	trayIcons = map[Tone]fyne.Resource{}
)

func init() {
	for _, t := range []Tone{Idle, Busy, Good, Bad} {
		c := toneColor(t)
		trayIcons[t] = fyne.NewStaticResource("berth-tray.png", drawIcon(64, c))
	}
}

func drawIcon(size int, state color.Color) []byte {
	img, err := assets.Icon(size)
	if err != nil {
		panic(err) // the embedded icon is checked by assets' tests
	}
	if state != nil {
		white := color.NRGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff}
		cx, cy, rad := size*3/4, size*3/4, size/5
		for y := cy - rad - 2; y <= cy+rad+2; y++ {
			for x := cx - rad - 2; x <= cx+rad+2; x++ {
				d := (x-cx)*(x-cx) + (y-cy)*(y-cy)
				switch {
				case d <= rad*rad:
					img.Set(x, y, state)
				case d <= (rad+2)*(rad+2):
					img.Set(x, y, white)
				}
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err) // encoding an in-memory image cannot fail
	}
	return b.Bytes()
}
