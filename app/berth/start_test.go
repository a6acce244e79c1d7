package main

import (
	"strings"
	"testing"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/app/settings"
)

func TestStartFlagsContainerLogs(t *testing.T) {
	saved := settings.Default(settings.Host{CPUs: 4, MemoryMiB: 8192})
	for _, tc := range []struct {
		args        []string
		mib, files  int
		wantErr     string
		wantInvalid string // what Validate then says
	}{
		{args: nil, mib: 10, files: 3},
		{args: []string{"--container-log-size", "100M", "--container-log-files", "5"}, mib: 100, files: 5},
		{args: []string{"--container-log-size=1G"}, mib: 1024, files: 3},
		{args: []string{"--container-log-size", "25"}, mib: 25, files: 3},
		{args: []string{"--container-log-files", "1"}, mib: 10, files: 1},
		{args: []string{"--container-log-size", "off"}, wantErr: `--container-log-size: "off" is not a log size`},
		{args: []string{"--container-log-size", ""}, wantErr: `--container-log-size: "" is not a log size`},
		{args: []string{"--container-log-size", "0"}, mib: 0, files: 3,
			wantInvalid: "--container-log-size 0 MiB: must be between 1 MiB and 1 GiB per file (logs cannot be unlimited"},
		{args: []string{"--container-log-files", "0"}, mib: 10, files: 0,
			wantInvalid: "--container-log-files 0: must be between 1 and 100 (logs cannot be unlimited"},
		{args: []string{"--container-log-size", "2G", "--container-log-files", "101"}, mib: 2048, files: 101,
			wantInvalid: "--container-log-size 2 GiB: must be between 1 MiB and 1 GiB per file\n--container-log-files 101: must be between 1 and 100"},
	} {
		f := newStartFlags()
		if err := f.fs.Parse(tc.args); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		s, err := f.apply(saved)
		if tc.wantErr != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil || s.ContainerLogMiB != tc.mib || s.ContainerLogFiles != tc.files {
			t.Errorf("%q: logs %d MiB x %d (%v), want %d MiB x %d", tc.args, s.ContainerLogMiB, s.ContainerLogFiles, err, tc.mib, tc.files)
		}
		if s.CPUs != saved.CPUs || s.MemoryMiB != saved.MemoryMiB || s.DiskGiB != saved.DiskGiB {
			t.Errorf("%q changed other settings: %+v", tc.args, s)
		}
		// Shares are checked on this machine: leave them out.
		s.Shares = nil
		err = s.Validate(settings.Host{CPUs: 4, MemoryMiB: 8192}, nil)
		switch {
		case tc.wantInvalid == "" && err != nil:
			t.Errorf("%q: invalid: %v", tc.args, err)
		case tc.wantInvalid != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.wantInvalid)):
			t.Errorf("%q: Validate = %v, want %q", tc.args, err, tc.wantInvalid)
		}
	}
}

func TestContainerLogsStatus(t *testing.T) {
	for _, tc := range []struct {
		st   control.Status
		want string
	}{
		{control.Status{ContainerLogMiB: 10, ContainerLogFiles: 3}, "logs:    each container's log is kept to 3 files of 10 MiB\n"},
		{control.Status{ContainerLogMiB: 1024, ContainerLogFiles: 1}, "logs:    each container's log is kept to 1 file of 1 GiB\n"},
		{control.Status{}, ""}, // a daemon from before the setting
	} {
		if got := containerLogsStatus(tc.st); got != tc.want {
			t.Errorf("containerLogsStatus(%d MiB x %d) = %q, want %q", tc.st.ContainerLogMiB, tc.st.ContainerLogFiles, got, tc.want)
		}
	}
}
