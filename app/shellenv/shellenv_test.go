package shellenv

import "testing"

func TestSet(t *testing.T) {
	const pipe = "npipe:////./pipe/berth-docker-1a2b3c4d"
	const sock = "unix:///home/ann/.local/share/berth/docker.sock"
	for _, tc := range []struct{ shell, value, want string }{
		{"powershell", pipe, `$Env:DOCKER_HOST = "npipe:////./pipe/berth-docker-1a2b3c4d"`},
		{"pwsh", pipe, `$Env:DOCKER_HOST = "npipe:////./pipe/berth-docker-1a2b3c4d"`},
		{"PowerShell", "a$b`c\"d", "$Env:DOCKER_HOST = \"a`$b``c`\"d\""},
		{"cmd", pipe, "set DOCKER_HOST=npipe:////./pipe/berth-docker-1a2b3c4d"},
		{"cmd", "a&b c", `set "DOCKER_HOST=a&b c"`},
		{"sh", sock, "export DOCKER_HOST=" + sock},
		{"bash", pipe, "export DOCKER_HOST=" + pipe},
		{"zsh", "/tmp/it's here", `export DOCKER_HOST='/tmp/it'\''s here'`},
		{"fish", sock, "set -gx DOCKER_HOST " + sock},
		{"fish", `/tmp/it's \here`, `set -gx DOCKER_HOST '/tmp/it\'s \\here'`},
	} {
		got, err := Set(tc.shell, "DOCKER_HOST", tc.value)
		if err != nil || got != tc.want {
			t.Errorf("Set(%s, %q) = %q, %v; want %q", tc.shell, tc.value, got, err, tc.want)
		}
	}
	if _, err := Set("tcsh", "X", "y"); err == nil {
		t.Error("tcsh accepted")
	}
}

func TestDefault(t *testing.T) {
	for goos, want := range map[string]string{"windows": "powershell", "linux": "sh", "darwin": "sh"} {
		if got := Default(goos); got != want {
			t.Errorf("Default(%s) = %s, want %s", goos, got, want)
		}
	}
}
