package autostart

import (
	"os"
	"path/filepath"
)

const fileName = "berth.desktop"

func fileContent(e Entry) []byte { return desktopFile(e) }

// defaultDir is $XDG_CONFIG_HOME/autostart (XDG Autostart Specification).
func defaultDir() (string, error) {
	if d := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "autostart"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".config", "autostart"), nil
}
