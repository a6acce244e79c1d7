package control

import (
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1.0", "1.1", -1},
		{"1.10", "1.9", 1},
		{"1.0~rc1", "1.0", -1},
		{"1.0", "1.0+b1", -1},
		{"1:0.1", "2.0", 1},
		{"2.36-9", "2.36-10", -1},
		{"26.1.5+dfsg1-9+b7", "26.1.5+dfsg1-9", 1},
		{"1.0a", "1.0", 1},
		{"1.0~~", "1.0~", -1},
		{"0.0.0-20231021", "0.0.0-20231021", 0},
		{"1.001", "1.1", 0},
	} {
		got := Compare(ParseVersion(c.a), ParseVersion(c.b))
		if sign(got) != c.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if back := Compare(ParseVersion(c.b), ParseVersion(c.a)); sign(back) != -c.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", c.b, c.a, back, -c.want)
		}
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func TestParseRelations(t *testing.T) {
	got, err := ParseRelations("libc6 (>= 2.34), awk:any | mawk, iptables (>> 1.8), debconf (<< 2~)")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || len(got[1]) != 2 || got[1][0].Name != "awk" || got[0][0].Op != ">=" {
		t.Fatalf("got %+v", got)
	}
	if !got[0][0].Satisfied(ParseVersion("2.41-12")) || got[0][0].Satisfied(ParseVersion("2.33")) {
		t.Error("libc6 (>= 2.34) misjudged")
	}
	if !got[3][0].Satisfied(ParseVersion("1.5.91")) || got[3][0].Satisfied(ParseVersion("2.0")) {
		t.Error("debconf (<< 2~) misjudged")
	}
	if _, err := ParseRelations("foo [amd64]"); err == nil {
		t.Error("architecture restriction accepted")
	}
}

func TestParse(t *testing.T) {
	in := "Package: a\nDescription: short\n long\n .\n\nPackage: b\nversion: 1\n"
	st, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || st[0].Get("Description") != "short\nlong\n." || st[1].Get("Version") != "1" {
		t.Fatalf("got %#v", st)
	}
}
