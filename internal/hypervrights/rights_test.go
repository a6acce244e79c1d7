package hypervrights

import (
	"errors"
	"strings"
	"testing"
)

// Each kind of account gets the verdict the rules above give it.
func TestVerdict(t *testing.T) {
	for _, c := range []struct {
		name string
		tok  Token
		ok   bool
		says []string
	}{
		{"member", Token{User: `PC\ann`, InGroup: true}, true, nil},
		{"elevated administrator", Token{User: `PC\ann`, Elevated: true}, true, nil},
		{"added, not signed in again", Token{User: `PC\ann`, GroupInDatabase: true}, false, []string{"sign out", "PC\\ann"}},
		{"unelevated administrator", Token{User: `PC\ann`, FilteredAdmin: true}, false, []string{"elevated", "Add-LocalGroupMember -SID S-1-5-32-578 -Member 'PC\\ann'", "installer"}},
		{"standard user", Token{User: `PC\bob`}, false, []string{"ask an administrator", "S-1-5-32-578", "sign out"}},
		{"unknown user", Token{}, false, []string{"this account"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Verdict(c.tok)
			if c.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrNoRights) {
				t.Fatalf("got %v, want ErrNoRights", err)
			}
			for _, s := range c.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%q does not say %q", err, s)
				}
			}
		})
	}
}
