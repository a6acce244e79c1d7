package bytesize

import "testing"

func TestFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Binary(8 << 30), "8.0 GiB"},
		{Binary(5 << 20), "5 MiB"},
		{Binary(12 << 10), "12 KiB"},
		{Binary(512), "512 bytes"},
		{Decimal(187_000_000), "187 MB"},
		{Decimal(1_500_000), "1.5 MB"},
		{Decimal(999), "999 B"},
		{Decimal(-1), "?"},
		{MiB(2560), "2.5 GiB"},
		{MiB(1000), "1000 MiB"},
		{MiB(1024), "1 GiB"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
