package hostca

import "os"

// System is the host's trusted CAs: the distribution's bundle.
func System() []Source { return LinuxBundle(os.Getenv) }
