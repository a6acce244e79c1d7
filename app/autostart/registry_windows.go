package autostart

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows/registry"
)

const runKey = `Software\Microsoft\Windows\CurrentVersion\Run`

// At is the user's Run key; Dir is unused on Windows.
type At struct{ Dir string }

// Enabled reports whether Berth opens at login.
func (At) Enabled() (bool, error) {
	k, err := registry.OpenKey(registry.CURRENT_USER, runKey, registry.QUERY_VALUE)
	if err != nil {
		return false, fmt.Errorf("read the Run key: %w", err)
	}
	defer k.Close()
	_, _, err = k.GetStringValue(Label)
	if errors.Is(err, registry.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Enable makes e run at login.
func (At) Enable(e Entry) error {
	k, _, err := registry.CreateKey(registry.CURRENT_USER, runKey, registry.SET_VALUE)
	if err != nil {
		return fmt.Errorf("open at login: %w", err)
	}
	defer k.Close()
	if err := k.SetStringValue(Label, commandLine(e)); err != nil {
		return fmt.Errorf("open at login: %w", err)
	}
	return nil
}

// Disable stops Berth from opening at login.
func (At) Disable() error {
	k, err := registry.OpenKey(registry.CURRENT_USER, runKey, registry.SET_VALUE)
	if err != nil {
		return fmt.Errorf("stop opening at login: %w", err)
	}
	defer k.Close()
	if err := k.DeleteValue(Label); err != nil && !errors.Is(err, registry.ErrNotExist) {
		return fmt.Errorf("stop opening at login: %w", err)
	}
	return nil
}
