package settings

import (
	"testing"
)

// Whatever a settings file holds, decoding it either fails (Load then
// names the file and keeps a copy: TestLoadCorrupt) or gives settings that
// validate without crashing and that encode to a file decoding to the same.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"", "{", "null", "[]", `{"cpus": 2,`, `{"cpus": "two"}`, `{"cpus": 1e3}`, `{"cpus": 99999999999999999999}`,
		`{"cpus": 6, "future_field": 1}`, `{"memory_mib": 9223372036854775807, "disk_gib": -1}`,
		`{"cpus":2,"memory_mib":2048,"disk_gib":64,"activate_context":true,"shares":[{"host_path":"/home/me","read_only":true}]}`,
		`{"shares":[null,{"host_path":"\u0000"},{"host_path":"relative"},{"host_path":"/"}]}`,
		"\xef\xbb\xbf{}", `{"cpus":2}{"cpus":3}`,
		`{"container_log_mib": 0, "container_log_files": -1}`, `{"container_log_mib": 1024, "container_log_files": 100}`, `{"container_log_files": null}`,
	} {
		f.Add([]byte(s))
	}
	host := Host{CPUs: 4, MemoryMiB: 8192, GOOS: "linux", Home: "/home/me", Temp: "/tmp"}
	f.Fuzz(func(t *testing.T, content []byte) {
		s, err := decode(content, host)
		if err != nil {
			return
		}
		s.Validate(host, &Settings{DiskGiB: 64})
		b, err := encode(s)
		if err != nil {
			t.Fatalf("encoding %+v: %v", s, err)
		}
		again, err := decode(b, host)
		if err != nil || !again.Equal(s) {
			t.Fatalf("decoded %+v, encoded %q, decoded %+v, %v", s, b, again, err)
		}
	})
}
