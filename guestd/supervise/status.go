package supervise

import "time"

// The status types stand apart from the supervisor, which is Linux-only
// (it runs children through the reaper): the host side decodes them from
// the guest API on every OS.

// State is where the service is in its life.
type State string

const (
	Starting   State = "starting"
	Running    State = "running"    // started and, if it has a Ready check, ready
	Restarting State = "restarting" // exited; waiting out the backoff
	Stopped    State = "stopped"
)

// Status is a snapshot for the guest API.
type Status struct {
	Name      string    `json:"name"`
	State     State     `json:"state"`
	Pid       int       `json:"pid,omitempty"`
	Restarts  int       `json:"restarts"`
	LastError string    `json:"last_error,omitempty"`
	Since     time.Time `json:"since"`
	Tail      []string  `json:"tail,omitempty"` // last output lines, when not running
}
