package protocol

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCallFailures(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusConflict, errors.New("Berth is stopping"))
	})
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "want Upgrade: berth-shell", http.StatusUpgradeRequired)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for path, want := range map[string]string{
		"/json": "409 Conflict: Berth is stopping",
		"/text": "426 Upgrade Required: want Upgrade: berth-shell",
	} {
		err := Call(context.Background(), srv.Client(), http.MethodPost, srv.URL+path, struct{}{}, nil)
		var se *StatusError
		if !errors.As(err, &se) || err.Error() != want {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
	}
}
