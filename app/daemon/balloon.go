package daemon

import (
	"context"

	"github.com/berthvm/berth/vmhost"
	"github.com/berthvm/berth/vmhost/balloon"
)

// startBalloon sizes the guest's memory balloon from its stats for a
// backend whose hypervisor does not take memory back by itself (vz):
// vmhost/balloon's controller, fed from the guest API, for as long as the
// session runs. Other backends are left alone.
func (d *Daemon) startBalloon(ctx context.Context, run *session, memoryMiB int) {
	b, ok := d.o.Backend.(vmhost.Ballooner)
	if !ok {
		return
	}
	every := d.balloonEvery
	if every == 0 {
		every = balloon.Interval
	}
	c := balloon.New(balloon.DefaultPolicy(uint64(memoryMiB) << 20))
	name := d.o.Paths.VMName()
	log := d.o.Log.With("vm", name)
	run.goRun(func() {
		balloon.Run(ctx, c, every, run.guest.Stats, func(ctx context.Context, bytes uint64) error {
			return b.SetMemoryTarget(ctx, name, bytes)
		}, log)
	})
}
