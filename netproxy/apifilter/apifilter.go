// Package apifilter carries docker API connections from the host's socket
// to the engine, looking only at what it must: container-create requests,
// whose bind-mount sources are host paths to vet and translate to the VM's.
// Every other request goes through as sent; responses and upgraded streams
// (attach, exec, BuildKit sessions) are copied byte for byte.
package apifilter

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/berthvm/berth/netproxy/relay"
)

// Vet rewrites a container-create request body, or refuses it with an error
// written for the user.
type Vet func(body []byte) ([]byte, error)

// maxCreateBody bounds what is buffered of a create request; real ones are
// a few KiB.
const maxCreateBody = 8 << 20

// maxHeader bounds a request's line and header, as net/http's servers do
// (http.DefaultMaxHeaderBytes), with room for what the reader buffers.
const maxHeader = http.DefaultMaxHeaderBytes + 4096

var createPath = regexp.MustCompile(`^(/v[0-9]+(\.[0-9]+)*)?/containers/create$`)

// Joiner returns a relay.JoinFunc that vets create requests with vet.
func Joiner(vet Vet, log *slog.Logger) relay.JoinFunc {
	return func(ctx context.Context, client, up net.Conn) {
		join(ctx, client, up, vet, log)
	}
}

func join(ctx context.Context, client, up net.Conn, vet Vet, log *slog.Logger) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		client.Close()
		up.Close()
	}()

	out := &lockedWriter{w: client}
	responses := make(chan struct{})
	go func() {
		io.Copy(out, up)
		relay.CloseWrite(client)
		close(responses)
	}()
	if err := requests(client, up, out, vet); err != nil {
		log.Debug("docker API connection ended", "err", err)
		cancel()
	} else {
		relay.CloseWrite(up) // the client's EOF reaches the engine
	}
	<-responses
}

// requests reads the client's requests one by one and sends them upstream,
// until the client is done or upgrades the connection, from which point the
// bytes are copied as they are.
func requests(client io.Reader, up io.Writer, out io.Writer, vet Vet) error {
	lim := &io.LimitedReader{R: client}
	br := bufio.NewReader(lim)
	for {
		// A header without end would otherwise grow in memory without
		// end; a body is streamed on (or bounded, for creates).
		lim.N = maxHeader
		req, err := http.ReadRequest(br)
		if errors.Is(err, io.EOF) && lim.N > 0 {
			return nil
		}
		if err != nil && lim.N == 0 {
			err = fmt.Errorf("request header larger than %d bytes", maxHeader)
			refuse(out, err)
			return err
		}
		if err != nil {
			return fmt.Errorf("reading a request: %w", err)
		}
		lim.N = math.MaxInt64
		// Only a path is judged, and sent on as judged: a target that is
		// not one ("A:0", "*") would not reach the engine as it came.
		if req.URL.Opaque != "" || !strings.HasPrefix(req.URL.Path, "/") {
			err := fmt.Errorf("request target %q is not a path", req.RequestURI)
			refuse(out, err)
			return err
		}
		if req.Method == http.MethodPost && createPath.MatchString(req.URL.Path) {
			if err := vetBody(req, vet); err != nil {
				refuse(out, err)
				return err
			}
		}
		upgrade := isUpgrade(req.Header)
		if err := req.Write(up); err != nil {
			return fmt.Errorf("forwarding %s %s: %w", req.Method, req.URL.Path, err)
		}
		if upgrade {
			_, err := io.Copy(up, br) // what is buffered, then the rest
			return err
		}
	}
}

func vetBody(req *http.Request, vet Vet) error {
	body, err := io.ReadAll(io.LimitReader(req.Body, maxCreateBody+1))
	req.Body.Close()
	if err != nil {
		return fmt.Errorf("reading the container create request: %w", err)
	}
	if len(body) > maxCreateBody {
		return fmt.Errorf("container create request larger than %d bytes", maxCreateBody)
	}
	body, err = vet(body)
	if err != nil {
		return err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.TransferEncoding = nil
	req.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

// refuse answers the request the way the engine reports errors, so the CLI
// prints "Error response from daemon: <message>". The connection closes
// after it: nothing else is in flight on it (docker clients do not pipeline).
func refuse(w io.Writer, reason error) {
	body, _ := json.Marshal(map[string]string{"message": reason.Error()})
	fmt.Fprintf(w, "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
}

func isUpgrade(h http.Header) bool {
	for _, v := range h.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// lockedWriter keeps a refusal from interleaving with a response's bytes.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
