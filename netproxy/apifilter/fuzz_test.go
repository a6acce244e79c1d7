package apifilter

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"testing"

	"github.com/berthvm/berth/filesharing"
	"github.com/berthvm/berth/netproxy/portfwd"
)

// Any bytes a client sends on the docker socket end its connection or go
// to the engine as requests it parses; a create request reaches it only
// vetted (its body as the vet leaves it), whatever framing the client
// chose (chunks, pipelining, odd headers). Bytes after an upgrade are the
// client's stream and are not looked at.
func FuzzRequests(f *testing.F) {
	create := `{"Image":"x","HostConfig":{"Binds":["/home/me/src:/app"],"PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}]}}}`
	for _, s := range []string{
		"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n",
		"POST /v1.45/containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: 119\r\n\r\n" + create,
		"POST /containers/create HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n1a\r\n{\"HostConfig\":{\"Binds\":[\"/\r\nc\r\nsrv:/x\"]}}  \r\n0\r\n\r\n",
		"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\nPOST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 2\r\n\r\n{}",
		"POST /containers/x/attach?stream=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nraw bytes",
		"POST /v1.45/containers/create HTTP/1.0\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{}{}{}",
		"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 9999999999\r\n\r\n{",
	} {
		f.Add([]byte(s))
	}
	policy := filesharing.Policy{GOOS: "linux", Shares: []filesharing.Share{{HostPath: "/home/me"}}}
	vet := func(body []byte) ([]byte, error) {
		body, err := policy.RewriteCreate(body)
		if err != nil {
			return nil, err
		}
		return portfwd.VetCreate(body)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var up, out bytes.Buffer
		ended := requests(bytes.NewReader(raw), &up, &lockedWriter{w: &out}, vet, nil, nil)
		br := bufio.NewReader(&up)
		for {
			req, err := http.ReadRequest(br)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				t.Fatalf("the engine would get a request it cannot read (%v) from %q", err, raw)
			}
			body, err := io.ReadAll(req.Body)
			isCreate := req.Method == http.MethodPost && createPath.MatchString(req.URL.Path)
			if err != nil {
				// A client that hangs up within a body leaves it cut short,
				// as on any connection; a create is only sent whole.
				if ended == nil || isCreate || br.Buffered() > 0 {
					t.Fatalf("the engine would get a broken body (%v) from %q", err, raw)
				}
				return
			}
			if isCreate {
				again, err := vet(body)
				if err != nil || !sameJSON(again, body) {
					t.Fatalf("an unvetted create reached the engine: %q from %q (%v)", body, raw, err)
				}
			}
			if isUpgrade(req.Header) {
				return
			}
		}
	})
}

func sameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}
