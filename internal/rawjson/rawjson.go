// Package rawjson edits JSON documents kept as maps of raw values (docker
// API requests, the docker CLI's files), which must pass through with the
// fields Berth does not know untouched.
package rawjson

import (
	"encoding/json"
	"fmt"
)

// Must encodes a value that always encodes (strings, plain structs, maps
// and slices of raw JSON); a failure is a bug, so it panics.
func Must(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("rawjson: encoding %T: %v", v, err))
	}
	return b
}
