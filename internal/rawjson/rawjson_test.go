package rawjson

import (
	"encoding/json"
	"testing"
)

func TestMust(t *testing.T) {
	m := map[string]json.RawMessage{"a": Must("x y"), "b": Must([]json.RawMessage{json.RawMessage(`{"k":1}`)})}
	if got := string(Must(m)); got != `{"a":"x y","b":[{"k":1}]}` {
		t.Errorf("Must = %s", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("Must of a channel did not panic")
		}
	}()
	Must(make(chan int))
}
