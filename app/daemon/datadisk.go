package daemon

import (
	"fmt"

	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/internal/bytesize"
)

// dataDiskLow is the free space under which the data disk counts as full:
// the engine's writes (pulls, builds, volumes) start failing with
// ENOSPC.
const dataDiskLow = 100 << 20

// dataDiskProblems says, when the guest's data disk is full, so and how to
// grow it; diskGiB is its size in the settings.
func dataDiskProblems(u protocol.Usage, diskGiB int) []string {
	if u.Total == 0 || u.Used > u.Total || u.Total-u.Used >= dataDiskLow {
		return nil
	}
	grow := max(diskGiB*2, diskGiB+8)
	return []string{fmt.Sprintf("data disk full: %s free of %s; containers' writes fail with 'no space left on device'. Free space (`docker system prune`) or grow the disk: `berth stop`, then `berth start --disk %d`",
		bytesize.Binary(u.Total-u.Used), bytesize.Binary(u.Total), grow)}
}
