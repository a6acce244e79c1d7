package hostdns

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A flood of bad input gives one line per interval, and the next line says
// how many were left out.
func TestRateLog(t *testing.T) {
	var buf bytes.Buffer
	r := newRateLog(slog.New(slog.NewTextHandler(&buf, nil)), 50*time.Millisecond)
	for range 100 {
		r.warn("malformed", "dns: malformed query")
	}
	r.warn("upstream", "dns: no answer")
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("%d lines for 101 warnings of two kinds:\n%s", n, buf.String())
	}
	time.Sleep(60 * time.Millisecond)
	r.warn("malformed", "dns: malformed query")
	if !strings.Contains(buf.String(), "suppressed=99") {
		t.Errorf("no count of the lines left out:\n%s", buf.String())
	}
}
