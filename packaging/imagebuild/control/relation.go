package control

import (
	"fmt"
	"strings"
)

// Relation is one package reference in a dependency field, e.g.
// "libc6 (>= 2.36)" or "awk:any".
type Relation struct {
	Name    string
	Op      string // "", "<<", "<=", "=", ">=", ">>"
	Version Version
}

// Alternatives are a field's "a | b" choices: any one satisfies it.
type Alternatives []Relation

// ParseRelations reads a Depends-style field: comma-separated groups of
// |-separated alternatives. Architecture qualifiers (":any", ":native") are
// dropped, since the image has one architecture; architecture lists and
// build profiles ("[...]", "<...>") only appear in source packages and are
// refused.
func ParseRelations(field string) ([]Alternatives, error) {
	var out []Alternatives
	for _, group := range strings.Split(field, ",") {
		group = strings.TrimSpace(group)
		if group == "" {
			continue
		}
		var alts Alternatives
		for _, s := range strings.Split(group, "|") {
			r, err := parseRelation(strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("relation %q: %w", group, err)
			}
			alts = append(alts, r)
		}
		out = append(out, alts)
	}
	return out, nil
}

func parseRelation(s string) (Relation, error) {
	if strings.ContainsAny(s, "[<") && !strings.Contains(s, "(") {
		return Relation{}, fmt.Errorf("architecture or profile restrictions are not supported")
	}
	name, rest, _ := strings.Cut(s, "(")
	name = strings.TrimSpace(name)
	name, _, _ = strings.Cut(name, ":")
	if name == "" {
		return Relation{}, fmt.Errorf("no package name")
	}
	r := Relation{Name: name}
	if rest == "" {
		return r, nil
	}
	cons, _, ok := strings.Cut(rest, ")")
	if !ok {
		return Relation{}, fmt.Errorf("unclosed version constraint")
	}
	cons = strings.TrimSpace(cons)
	for _, op := range []string{"<<", "<=", ">=", ">>", "=", "<", ">"} {
		if v, ok := strings.CutPrefix(cons, op); ok {
			// "<" and ">" are dpkg's obsolete spellings of "<=" and ">=".
			switch op {
			case "<":
				op = "<="
			case ">":
				op = ">="
			}
			r.Op, r.Version = op, ParseVersion(strings.TrimSpace(v))
			return r, nil
		}
	}
	return Relation{}, fmt.Errorf("unknown version operator in %q", cons)
}

// Satisfied reports whether version v meets the relation's constraint.
func (r Relation) Satisfied(v Version) bool {
	c := Compare(v, r.Version)
	switch r.Op {
	case "":
		return true
	case "<<":
		return c < 0
	case "<=":
		return c <= 0
	case "=":
		return c == 0
	case ">=":
		return c >= 0
	case ">>":
		return c > 0
	}
	return false
}

func (r Relation) String() string {
	if r.Op == "" {
		return r.Name
	}
	return fmt.Sprintf("%s (%s %s)", r.Name, r.Op, r.Version)
}
