//go:build !linux

package reclaim

import "errors"

var errNotLinux = errors.New("trimming needs Linux")

// TrimNow needs Linux's FITRIM.
func TrimNow(string) (uint64, error) { return 0, errNotLinux }
