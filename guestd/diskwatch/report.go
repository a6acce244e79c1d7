package diskwatch

import "github.com/berthvm/berth/guestd/protocol"

// Report is the guest API's word for stalls (longest stalled first): the
// data disk's stall if it is among them (dataDisk is its name, vdb), else
// the longest stalled disk of the machine, else the longest stalled loop
// or device-mapper device; nil when there are none.
func Report(stalls []Stall, dataDisk string) *protocol.DiskStall {
	if len(stalls) == 0 {
		return nil
	}
	rank := func(s Stall) int {
		switch {
		case s.Device == dataDisk:
			return 0
		case !Stacked(s.Device):
			return 1
		}
		return 2
	}
	pick := 0
	for i, s := range stalls {
		if rank(s) < rank(stalls[pick]) {
			pick = i
		}
	}
	s := stalls[pick]
	r := &protocol.DiskStall{
		Device: s.Device, DataDisk: s.Device == dataDisk, Stacked: Stacked(s.Device),
		Since: s.Since, InFlight: s.InFlight, HungTasks: s.HungTasks, HungTask: s.HungTask,
	}
	for i, o := range stalls {
		if i != pick {
			r.Others = append(r.Others, o.Device)
		}
	}
	return r
}
