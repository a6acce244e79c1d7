package autostart

import (
	"os"
	"path/filepath"
)

const fileName = Label + ".plist"

func fileContent(e Entry) []byte { return launchAgent(e) }

// defaultDir is the user's LaunchAgents folder; launchd loads it at login.
func defaultDir() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, "Library", "LaunchAgents"), nil
}
