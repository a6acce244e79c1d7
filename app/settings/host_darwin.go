package settings

import "golang.org/x/sys/unix"

func hostMemoryMiB() int {
	b, err := unix.SysctlUint64("hw.memsize")
	if err != nil {
		return 0
	}
	return int(b >> 20)
}
