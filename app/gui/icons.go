package gui

import (
	"bytes"
	"image"
	"image/color"
	"image/png"

	"fyne.io/fyne/v2"
)

// Berth's icons are drawn here rather than shipped as files: a blue tile
// with three stacked white bars (containers at a berth), and for the tray
// the same tile with the machine's state as a dot. Tray icons must be PNG.
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
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	blue := color.NRGBA{R: 0x1d, G: 0x63, B: 0xed, A: 0xff}
	white := color.NRGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff}
	r := size / 6 // corner radius
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			if inRoundedRect(x, y, size, r) {
				img.Set(x, y, blue)
			}
		}
	}
	// three bars, the middle one offset like a stack of containers
	bar := size / 9
	for i, off := range []int{0, size / 10, 0} {
		y0 := size/4 + i*(bar+bar/2)
		for y := y0; y < y0+bar; y++ {
			for x := size/5 + off; x < size*4/5-size/10+off; x++ {
				img.Set(x, y, white)
			}
		}
	}
	if state != nil {
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
	png.Encode(&b, img)
	return b.Bytes()
}

func inRoundedRect(x, y, size, r int) bool {
	cx := min(max(x, r), size-1-r)
	cy := min(max(y, r), size-1-r)
	return (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r
}
