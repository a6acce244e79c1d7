package vz

import (
	"errors"
	"fmt"

	"github.com/Code-Hex/vz/v3"
)

func rosettaAvailable() error {
	switch vz.LinuxRosettaDirectoryShareAvailability() {
	case vz.LinuxRosettaAvailabilityNotSupported:
		return errors.New("this Mac cannot share Rosetta with VMs (macOS 13 or newer is needed): unset BERTH_ROSETTA")
	case vz.LinuxRosettaAvailabilityNotInstalled:
		if err := vz.LinuxRosettaDirectoryShareInstallRosetta(); err != nil {
			return fmt.Errorf("install Rosetta (`softwareupdate --install-rosetta`), or unset BERTH_ROSETTA: %w", err)
		}
	}
	return nil
}

// rosettaShare exposes Rosetta's runtime to the guest under RosettaTag;
// the guest registers it with binfmt_misc for amd64 ELF binaries.
func rosettaShare() (vz.DirectorySharingDeviceConfiguration, error) {
	share, err := vz.NewLinuxRosettaDirectoryShare()
	if err != nil {
		return nil, fmt.Errorf("rosetta: %w", err)
	}
	dev, err := vz.NewVirtioFileSystemDeviceConfiguration(RosettaTag)
	if err != nil {
		return nil, fmt.Errorf("rosetta: %w", err)
	}
	dev.SetDirectoryShare(share)
	return dev, nil
}
