// Package shellenv writes an environment variable's assignment in the
// syntax of the user's shell, for `berth docker-env`.
package shellenv

import (
	"fmt"
	"strings"
)

// Shells are the names Set takes.
var Shells = []string{"powershell", "cmd", "bash", "zsh", "sh", "fish"}

// Default is the shell a terminal most likely runs on goos: PowerShell on
// Windows (Windows Terminal's default), a POSIX shell elsewhere.
func Default(goos string) string {
	if goos == "windows" {
		return "powershell"
	}
	return "sh"
}

// Set returns the line that sets name to value in shell.
func Set(shell, name, value string) (string, error) {
	switch strings.ToLower(shell) {
	case "powershell", "pwsh":
		// In double quotes PowerShell expands $ and takes ` as escape.
		r := strings.NewReplacer("`", "``", `"`, "`\"", "$", "`$")
		return fmt.Sprintf(`$Env:%s = "%s"`, name, r.Replace(value)), nil
	case "cmd":
		// cmd takes everything after = literally, except its operators;
		// quoting the whole assignment keeps them and no quotes in value.
		if strings.ContainsAny(value, "&|<>^() ") {
			return fmt.Sprintf(`set "%s=%s"`, name, value), nil
		}
		return fmt.Sprintf("set %s=%s", name, value), nil
	case "bash", "zsh", "sh":
		return fmt.Sprintf("export %s=%s", name, posixQuote(value)), nil
	case "fish":
		return fmt.Sprintf("set -gx %s %s", name, fishQuote(value)), nil
	}
	return "", fmt.Errorf("--shell %s: use one of %s", shell, strings.Join(Shells, ", "))
}

// plain says whether s needs no quotes in a POSIX shell or fish.
func plain(s string) bool {
	return s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/:._-+=,@") == ""
}

func posixQuote(s string) string {
	if plain(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// fishQuote: in fish's single quotes only \' and \\ are escapes.
func fishQuote(s string) string {
	if plain(s) {
		return s
	}
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}
