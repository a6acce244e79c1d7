//go:build linux || darwin

package autostart

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/berthvm/berth/internal/atomicfile"
)

// At is the login-item file in dir ("" means the user's default folder).
type At struct{ Dir string }

func (a At) path() (string, error) {
	dir := a.Dir
	if dir == "" {
		var err error
		if dir, err = defaultDir(); err != nil {
			return "", fmt.Errorf("autostart folder: %w", err)
		}
	}
	return filepath.Join(dir, fileName), nil
}

// Enabled reports whether Berth opens at login.
func (a At) Enabled() (bool, error) {
	p, err := a.path()
	if err != nil {
		return false, err
	}
	_, err = os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Enable makes e run at login.
func (a At) Enable(e Entry) error {
	p, err := a.path()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("open at login: %w", err)
	}
	if err := atomicfile.Write(p, fileContent(e), 0o644); err != nil {
		return fmt.Errorf("open at login: %w", err)
	}
	return nil
}

// Disable stops Berth from opening at login.
func (a At) Disable() error {
	p, err := a.path()
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("stop opening at login: %w", err)
	}
	return nil
}
