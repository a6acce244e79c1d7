package hyperv

import (
	"strings"
	"testing"
)

// WMI may list COM 2 first; the console is COM 1 whatever the order.
func TestCOM1ByName(t *testing.T) {
	for _, names := range [][]string{{"COM 1", "COM 2"}, {"COM 2", "COM 1"}, {"com1"}} {
		i, err := com1(names)
		if err != nil || !strings.EqualFold(strings.ReplaceAll(names[i], " ", ""), "com1") {
			t.Errorf("com1(%q) = %d, %v", names, i, err)
		}
	}
	if _, err := com1([]string{"COM 2"}); err == nil || !strings.Contains(err.Error(), `"COM 2"`) {
		t.Errorf("no COM 1: %v", err)
	}
}
