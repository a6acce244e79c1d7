package protocol

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// The HTTP/JSON conventions of the guest API, which the host's control API
// follows too: a JSON body each way, and an ErrorBody with a failure.

// WriteJSON answers a request with code and v as JSON.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the client that went away has no one to hear of it
}

// WriteError answers a failed request with code and err in an ErrorBody.
func WriteError(w http.ResponseWriter, code int, err error) {
	WriteJSON(w, code, ErrorBody{Message: err.Error()})
}

// StatusError is the answer to a request that failed.
type StatusError struct {
	Status  string // e.g. "409 Conflict"
	Message string // the ErrorBody's, or the answer's text
}

func (e *StatusError) Error() string { return e.Status + ": " + e.Message }

// ErrorMessage reads why a request failed from its answer: the ErrorBody's
// message, or else the body's text.
func ErrorMessage(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e ErrorBody
	if json.Unmarshal(b, &e) != nil || e.Message == "" {
		e.Message = strings.TrimSpace(string(b))
	}
	return e.Message
}

// Call sends body (if not nil) as JSON to url and decodes the answer into
// out (if not nil). An answer of 300 or more is a *StatusError.
func Call(ctx context.Context, hc *http.Client, method, url string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return &StatusError{Status: resp.Status, Message: ErrorMessage(resp)}
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
