package dockerctx

import "fmt"

// Berth is the name of the docker context Berth maintains.
const Berth = "berth"

// macCLIPlaces are where a Mac's docker CLI usually is, PATH or not.
var macCLIPlaces = []string{"/opt/homebrew/bin/docker", "/usr/local/bin/docker"}

// MissingCLI is what to tell a user whose PATH has no docker CLI, for the
// OS goos and Berth's context name, or "" when lookPath finds one. Berth serves the Docker API; the
// CLI is the user's own, except on Windows where the installer ships one.
func MissingCLI(goos, context string, lookPath func(string) (string, error)) string {
	if _, err := lookPath("docker"); err == nil {
		return ""
	}
	if goos == "darwin" {
		// An app opened from Finder or started by launchd gets launchd's
		// PATH (/usr/bin:/bin:/usr/sbin:/sbin), not the shell's: look
		// where Homebrew (Apple silicon, Intel) and Docker's own installs
		// put the CLI before saying there is none.
		for _, p := range macCLIPlaces {
			if _, err := lookPath(p); err == nil {
				return ""
			}
		}
	}
	var how string
	switch goos {
	case "windows":
		how = "Berth's installer puts docker.exe in its bin folder and that folder on the system PATH: open a new terminal after installing (or reinstall Berth if it is still missing)"
	case "darwin":
		how = "install the CLI alone with Homebrew (`brew install docker`; the formula is only the client, no engine), or unpack Docker's static macOS binaries and put `docker` on your PATH"
	default:
		how = "install the CLI alone: Debian 13 `apt install docker-cli`, or Docker's `docker-ce-cli` package; not the whole `docker.io` engine, which Berth runs for you in its VM"
	}
	return fmt.Sprintf("No `docker` command was found on your PATH: %s. Then `docker --context %s ps` talks to Berth.", how, context)
}
