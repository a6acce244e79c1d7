// Package control reads Debian's control-file syntax: stanzas of fields (as
// in Packages and InRelease), package versions and their ordering, and
// dependency relations.
package control

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Stanza is one paragraph of fields. Keys are stored as written; Get is
// case-insensitive as the format is.
type Stanza map[string]string

// Get returns a field's value, or "".
func (s Stanza) Get(key string) string {
	if v, ok := s[key]; ok {
		return v
	}
	for k, v := range s {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// Parse reads every stanza of r. Continuation lines (starting with a space
// or tab) are joined to their field with a newline, as dpkg keeps them.
func Parse(r io.Reader) ([]Stanza, error) {
	var out []Stanza
	err := Each(r, func(s Stanza) error { out = append(out, s); return nil })
	return out, err
}

// Each calls fn for every stanza of r, so a large Packages file is never
// held whole as stanzas.
func Each(r io.Reader, fn func(Stanza) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	cur := Stanza{}
	last := ""
	line := 0
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		err := fn(cur)
		cur, last = Stanza{}, ""
		return err
	}
	for sc.Scan() {
		line++
		t := sc.Text()
		switch {
		case strings.TrimSpace(t) == "":
			if err := flush(); err != nil {
				return err
			}
		case t[0] == '#':
		case t[0] == ' ' || t[0] == '\t':
			if last == "" {
				return fmt.Errorf("control: line %d: continuation without a field", line)
			}
			cur[last] += "\n" + strings.TrimSpace(t)
		default:
			k, v, ok := strings.Cut(t, ":")
			if !ok {
				return fmt.Errorf("control: line %d: no colon in %q", line, t)
			}
			last = strings.TrimSpace(k)
			cur[last] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("control: %w", err)
	}
	return flush()
}
