package vz

import (
	"errors"

	"github.com/Code-Hex/vz/v3"
)

// Intel Macs run amd64 containers natively; newPlan refuses Rosetta there.
var errNoRosetta = errors.New("Rosetta is for Apple silicon; this Mac runs amd64 containers natively")

func rosettaAvailable() error { return errNoRosetta }

func rosettaShare() (vz.DirectorySharingDeviceConfiguration, error) { return nil, errNoRosetta }
