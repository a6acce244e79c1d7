package control

import (
	"fmt"
	"testing"
)

func TestPublicationsGroupsListenersOfOneRequest(t *testing.T) {
	got := Publications([]Forward{
		{Container: "web", Published: "8080:80", Proto: "tcp", HostIP: "127.0.0.1", HostPort: 8080},
		{Container: "web", Published: "8080:80", Proto: "tcp", HostIP: "::1", HostPort: 8080, Error: "in use"},
		{Container: "web", Published: "127.0.0.1:5353:53/udp", Proto: "udp", HostIP: "127.0.0.1", HostPort: 5353},
		{Container: "db", Published: "8080:80", Proto: "tcp", HostIP: "127.0.0.1", HostPort: 8080, Error: "in use"},
	})
	want := "[{web 8080:80 tcp 8080 [127.0.0.1] [::1] [in use]} {web 127.0.0.1:5353:53/udp udp 5353 [127.0.0.1] [] []} {db 8080:80 tcp 8080 [] [127.0.0.1] [in use]}]"
	if fmt.Sprint(got) != want {
		t.Errorf("Publications =\n%v\nwant\n%s", got, want)
	}
}
