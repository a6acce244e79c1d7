package hyperv

import (
	"fmt"
	"strings"
)

// com1 picks COM 1 among a VM's serial ports by their names (their
// ElementName): a Generation 2 VM has COM 1 and COM 2, which WMI lists in
// no promised order, and the guest's console (ttyS0) is COM 1.
func com1(names []string) (int, error) {
	for i, n := range names {
		if strings.EqualFold(strings.ReplaceAll(n, " ", ""), "COM1") {
			return i, nil
		}
	}
	return -1, fmt.Errorf("the VM has no serial port COM 1 (it has %q)", names)
}
