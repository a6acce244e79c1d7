//go:build linux

package engine

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ContainersDir holds each container's state and logs under the engine's
// data root.
const ContainersDir = "/var/lib/docker/containers"

// LogBytes is what the containers' logs take on disk under dir (the
// engine's containers directory): json-file's ID-json.log and its rotated
// files, and the local driver's local-logs/. The engine reports none of
// it, yet a chatty container can fill the data disk with it. Files that
// vanish while they are counted (a container removed) are skipped.
func LogBytes(dir string) (uint64, error) {
	var total uint64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path != dir {
				return nil
			}
			return err
		}
		if d.IsDir() || !isLog(path, dir) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += uint64(st.Blocks) * 512 // what it takes, sparse or not
		} else {
			total += uint64(info.Size())
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil // no container yet
	}
	return total, err
}

// isLog says whether path, under dir, is a container's log file.
func isLog(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	if err != nil {
		return false
	}
	parts := strings.Split(rel, string(os.PathSeparator))
	switch {
	case len(parts) == 2: // ID/ID-json.log, ID/ID-json.log.1, …
		return strings.HasPrefix(parts[1], parts[0]+"-json.log")
	case len(parts) == 3: // ID/local-logs/container.log…
		return parts[1] == "local-logs"
	}
	return false
}
