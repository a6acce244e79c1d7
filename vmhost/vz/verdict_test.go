package vz

import (
	"errors"
	"strings"
	"testing"
)

func TestVerdict(t *testing.T) {
	if err := verdict(true, nil); err != nil {
		t.Errorf("valid: %v", err)
	}
	for _, tc := range []struct {
		ok      bool
		err     error
		wantHas string
	}{
		{false, errors.New("memory size is too large"), "memory size is too large"},
		{true, errors.New("odd"), "odd"},
		{false, nil, "no reason given"},
	} {
		err := verdict(tc.ok, tc.err)
		if err == nil || !strings.Contains(err.Error(), tc.wantHas) || strings.Contains(err.Error(), "%!") {
			t.Errorf("verdict(%v, %v) = %v, want an error containing %q", tc.ok, tc.err, err, tc.wantHas)
		}
		if tc.err != nil && !errors.Is(err, tc.err) {
			t.Errorf("verdict(%v, %v) does not wrap the framework's error", tc.ok, tc.err)
		}
	}
}
