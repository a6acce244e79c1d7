//go:build !windows

package allusers

import "errors"

// ThisComputer has no profile list outside Windows, where each user's
// Berth runs under their own account and is theirs to stop.
func ThisComputer() ([]Profile, error) {
	return nil, errors.New("--all-users is for Windows's installer; here each user stops their own Berth with `berth stop`")
}
