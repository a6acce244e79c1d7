package gui

import (
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"
)

func TestPortLinks(t *testing.T) {
	got := portLinks([]container.PortSummary{
		{PrivatePort: 53, PublicPort: 5353, Type: "udp"},
		{PrivatePort: 80, PublicPort: 8080, Type: "tcp"},
		{PrivatePort: 80, PublicPort: 8080, Type: "tcp"}, // the same port on ::
		{PrivatePort: 9000, Type: "tcp"},                 // exposed, not published
	})
	if len(got) != 2 || got[0].Label != "5353:53/udp" || got[0].URL != nil || got[1].Label != "8080:80" || got[1].URL.String() != "http://localhost:8080" {
		t.Errorf("portLinks = %+v", got)
	}
}

func TestContainerRowsRunningFirst(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	rows := containerRows([]container.Summary{
		{ID: "aaaaaaaaaaaaaaaa", Names: []string{"/zeta"}, State: container.StateRunning, Created: now.Add(-3 * time.Hour).Unix()},
		{ID: "bbbbbbbbbbbbbbbb", State: container.StateExited, Created: now.Unix()},
		{ID: "cccccccccccccccc", Names: []string{"/alpha"}, State: container.StateExited},
	}, now)
	if rows[0].Name != "zeta" || rows[0].Created != "3 h ago" || rows[1].Name != "alpha" || rows[2].Name != "bbbbbbbbbbbb" || rows[2].Created != "just now" {
		t.Errorf("rows %+v", rows)
	}
}

func TestImageRows(t *testing.T) {
	rows := imageRows([]image.Summary{
		{ID: "sha256:1111111111111111", RepoTags: []string{"b:1", "a:2"}, Size: 999},
		{ID: "sha256:2222222222222222", Size: 1_500_000},
	}, time.Now())
	if len(rows) != 3 || rows[0].Tag != "<none>:<none>" || rows[0].ID != "sha256:2222222222222222" || rows[0].Size != "1.5 MB" || rows[1].Tag != "a:2" || rows[1].ID != "a:2" || rows[2].Size != "999 B" {
		t.Errorf("rows %+v", rows)
	}
}

func TestVolumeRowsUsedByAndSize(t *testing.T) {
	rows := volumeRows(
		[]volume.Volume{{Name: "pg", Driver: "local"}, {Name: "cache", Driver: "local"}},
		[]volume.Volume{{Name: "pg", UsageData: &volume.UsageData{Size: 42_000_000}}, {Name: "cache", UsageData: &volume.UsageData{Size: -1}}},
		[]container.Summary{
			{ID: "1", Names: []string{"/db"}, Mounts: []container.MountPoint{{Type: "volume", Name: "pg"}}},
			{ID: "2", Names: []string{"/backup"}, Mounts: []container.MountPoint{{Type: "volume", Name: "pg"}, {Type: "bind", Source: "/home"}}},
		})
	if len(rows) != 2 || rows[0].Name != "cache" || rows[0].Size != "" || len(rows[0].UsedBy) != 0 ||
		rows[1].Size != "42 MB" || len(rows[1].UsedBy) != 2 || rows[1].UsedBy[0] != "backup" {
		t.Errorf("rows %+v", rows)
	}
}

func TestLineSinkSplitsAndBatches(t *testing.T) {
	got := make(chan []string, 4)
	s := &lineSink{flush: func(l []string) { got <- l }}
	s.Write([]byte("one\r\ntw"))
	s.Write([]byte("o\nthree"))
	select {
	case l := <-got:
		if len(l) != 2 || l[0] != "one" || l[1] != "two" {
			t.Errorf("batch %q", l)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no batch delivered")
	}
}
