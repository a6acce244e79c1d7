// Package api serves the guest API (see package protocol for its wire
// types and the host's client): HTTP/JSON on eth0 for the host only. It
// reports boot progress, health, resource use and the guest's clock, and
// takes shutdown requests and steps of the clock.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/berthvm/berth/guestd/protocol"
)

// Server answers the API from guestd's state.
type Server struct {
	Health   func() protocol.Health
	Stats    func() (protocol.Stats, error)
	Shutdown func(reboot bool)
	// Shell serves protocol.ShellPath.
	Shell http.HandlerFunc
	// StepClock moves the wall clock by d (to the host's time).
	StepClock func(d time.Duration) error
	// DiskUse and Trim serve protocol.DiskPath and protocol.TrimPath;
	// both fail until the engine runs on the data disk.
	DiskUse func() (protocol.DiskUse, error)
	Trim    func() (uint64, error)
	// Dial serves protocol.DialPath (package tunnel): an HTTP upgrade to a
	// connection to a port on the guest's loopback, for port forwarding.
	Dial http.HandlerFunc
	// FSEvents raises changes the host saw in shared folders (package
	// fsnotice).
	// It stops when the request's context ends.
	FSEvents func(context.Context, protocol.FSEvents) protocol.FSEventsApplied
}

// maxFSEventsBody bounds a batch of changes: MaxChanges paths of up to a
// few hundred bytes each.
const maxFSEventsBody = 16 << 20

// Handler routes the API.
func (s Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+protocol.HealthPath, func(w http.ResponseWriter, r *http.Request) {
		protocol.WriteJSON(w, http.StatusOK, s.Health())
	})
	mux.HandleFunc("GET "+protocol.StatsPath, func(w http.ResponseWriter, r *http.Request) {
		st, err := s.Stats()
		if err != nil {
			protocol.WriteError(w, http.StatusInternalServerError, err)
			return
		}
		protocol.WriteJSON(w, http.StatusOK, st)
	})
	if s.DiskUse != nil {
		mux.HandleFunc("GET "+protocol.DiskPath, func(w http.ResponseWriter, r *http.Request) {
			u, err := s.DiskUse()
			if err != nil {
				protocol.WriteError(w, http.StatusServiceUnavailable, err)
				return
			}
			protocol.WriteJSON(w, http.StatusOK, u)
		})
	}
	if s.Trim != nil {
		mux.HandleFunc("POST "+protocol.TrimPath, func(w http.ResponseWriter, r *http.Request) {
			n, err := s.Trim()
			if err != nil {
				protocol.WriteError(w, http.StatusServiceUnavailable, err)
				return
			}
			protocol.WriteJSON(w, http.StatusOK, protocol.Trimmed{Bytes: n})
		})
	}
	mux.HandleFunc("POST "+protocol.ShutdownPath, func(w http.ResponseWriter, r *http.Request) {
		var req protocol.ShutdownRequest
		if r.ContentLength != 0 {
			if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
				protocol.WriteError(w, http.StatusBadRequest, errors.New("bad shutdown request: "+err.Error()))
				return
			}
		}
		// Answer first: the shutdown ends with this server.
		protocol.WriteJSON(w, http.StatusAccepted, struct{}{})
		go s.Shutdown(req.Reboot)
	})
	mux.HandleFunc("GET "+protocol.ClockPath, func(w http.ResponseWriter, r *http.Request) {
		protocol.WriteJSON(w, http.StatusOK, protocol.Clock{UnixNano: time.Now().UnixNano()})
	})
	if s.StepClock != nil {
		mux.HandleFunc("POST "+protocol.ClockPath, s.stepClock)
	}
	if s.Shell != nil {
		mux.HandleFunc("POST "+protocol.ShellPath, s.Shell)
	}
	if s.Dial != nil {
		mux.HandleFunc("POST "+protocol.DialPath, s.Dial)
	}
	if s.FSEvents != nil {
		mux.HandleFunc("POST "+protocol.FSEventsPath, func(w http.ResponseWriter, r *http.Request) {
			var ev protocol.FSEvents
			if err := json.NewDecoder(io.LimitReader(r.Body, maxFSEventsBody)).Decode(&ev); err != nil {
				protocol.WriteError(w, http.StatusBadRequest, fmt.Errorf("bad file events: %w", err))
				return
			}
			protocol.WriteJSON(w, http.StatusOK, s.FSEvents(r.Context(), ev))
		})
	}
	return mux
}

// minClock is no real host's time (2020-01-01): a garbled step must not
// throw the guest's clock back to 1970.
var minClock = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

func (s Server) stepClock(w http.ResponseWriter, r *http.Request) {
	var req protocol.ClockStep
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
		protocol.WriteError(w, http.StatusBadRequest, fmt.Errorf("bad clock step: %w", err))
		return
	}
	d := time.Duration(req.StepNanos)
	if to := time.Now().Add(d); to.Before(minClock) {
		protocol.WriteError(w, http.StatusBadRequest, fmt.Errorf("bad clock step %v: it would set the clock to %s, before %s", d, to.UTC().Format(time.RFC3339), minClock.Format(time.RFC3339)))
		return
	}
	if err := s.StepClock(d); err != nil {
		protocol.WriteError(w, http.StatusInternalServerError, err)
		return
	}
	protocol.WriteJSON(w, http.StatusOK, protocol.Clock{UnixNano: time.Now().UnixNano()})
}
