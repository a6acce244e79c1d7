package assets

import (
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIconRenders(t *testing.T) {
	for _, size := range []int{16, 24, 32, 64, 256} {
		img, err := Icon(size)
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != size || b.Dy() != size {
			t.Fatalf("size %d: image is %v", size, b)
		}
		// The corners are outside the rounded tile; the tile's left edge
		// half-way down is blue, and the middle container white.
		if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
			t.Errorf("size %d: corner is not transparent (alpha %d)", size, a)
		}
		for _, y := range []int{size / 2, size * 3 / 4} {
			if c := img.NRGBAAt(size*3/32, y); !near(c, color.NRGBA{0x1d, 0x63, 0xed, 0xff}) {
				t.Errorf("size %d: tile edge at y=%d is %v, want Berth's blue", size, y, c)
			}
		}
		if c := img.NRGBAAt(size*9/16, size*7/16); !near(c, color.NRGBA{0xff, 0xff, 0xff, 0xff}) {
			t.Errorf("size %d: middle container is %v, want white", size, c)
		}
	}
	if _, err := Icon(0); err == nil {
		t.Error("Icon(0) rendered")
	}
}

func near(a, b color.NRGBA) bool {
	d := func(x, y uint8) bool { return max(x, y)-min(x, y) < 8 }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B) && d(a.A, b.A)
}

func TestDesktopEntry(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("linux", AppID+".desktop"))
	if err != nil {
		t.Fatal(err)
	}
	e := string(b)
	for _, want := range []string{"[Desktop Entry]\n", "\nExec=berth gui\n", "\nIcon=" + AppID + "\n"} {
		if !strings.Contains(e, want) {
			t.Errorf("desktop entry lacks %q:\n%s", strings.TrimSpace(want), e)
		}
	}
}
