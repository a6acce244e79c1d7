// Package bytesize formats sizes for people, in the three ways Berth shows
// them: binary units for memory and disks, decimal units for what docker
// itself shows in decimal (image and volume sizes), and a memory setting
// the way a user types it.
package bytesize

import (
	"fmt"
	"strconv"
)

// Binary renders n in the largest binary unit it fills: "8.0 GiB",
// "128 MiB", "12 KiB", "512 bytes".
func Binary(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// Decimal renders n as docker does: decimal units, three significant
// digits ("187 MB", "1.5 MB"); a negative n (unknown) is "?".
func Decimal(n int64) string {
	if n < 0 {
		return "?"
	}
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return strconv.FormatFloat(f, 'g', 3, 64) + " " + units[i]
}

// MiB renders a memory size given in MiB the way users give it: GiB when
// that is exact to two decimals ("2.5 GiB"), MiB otherwise ("1000 MiB").
func MiB(mib int) string {
	if mib >= 1024 && mib*100%1024 == 0 {
		return strconv.FormatFloat(float64(mib)/1024, 'f', -1, 64) + " GiB"
	}
	return fmt.Sprintf("%d MiB", mib)
}
