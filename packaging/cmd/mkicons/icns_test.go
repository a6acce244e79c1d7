package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

type icnsChunk struct {
	Type string
	Data []byte
}

// readICNS parses an .icns file as macOS reads one: the 'icns' magic, the
// file's length, then typed chunks whose lengths count their own header.
func readICNS(data []byte) ([]icnsChunk, error) {
	if len(data) < 8 || string(data[:4]) != "icns" {
		return nil, fmt.Errorf("no 'icns' magic")
	}
	if n := binary.BigEndian.Uint32(data[4:8]); int(n) != len(data) {
		return nil, fmt.Errorf("header says %d bytes, file has %d", n, len(data))
	}
	var out []icnsChunk
	for rest := data[8:]; len(rest) > 0; {
		if len(rest) < 8 {
			return nil, fmt.Errorf("%d stray bytes at the end", len(rest))
		}
		n := int(binary.BigEndian.Uint32(rest[4:8]))
		if n < 8 || n > len(rest) {
			return nil, fmt.Errorf("chunk %q: length %d of %d left", rest[:4], n, len(rest))
		}
		out = append(out, icnsChunk{string(rest[:4]), rest[8:n]})
		rest = rest[n:]
	}
	return out, nil
}

func TestICNS(t *testing.T) {
	file := filepath.Join(t.TempDir(), "Resources", "berth.icns")
	if err := run([]string{"-icns", file}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := readICNS(data)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"ic07": 128, "ic08": 256, "ic09": 512, "ic10": 1024, "ic11": 32, "ic12": 64, "ic13": 256, "ic14": 512}
	for _, c := range chunks {
		size, ok := want[c.Type]
		if !ok {
			t.Errorf("unexpected chunk %q", c.Type)
			continue
		}
		delete(want, c.Type)
		if !bytes.HasPrefix(c.Data, []byte("\x89PNG\r\n\x1a\n")) {
			t.Errorf("%s is not a PNG", c.Type)
			continue
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(c.Data))
		if err != nil || cfg.Width != size || cfg.Height != size {
			t.Errorf("%s: %dx%d (%v), want %dx%d", c.Type, cfg.Width, cfg.Height, err, size, size)
		}
	}
	for typ := range want {
		t.Errorf("chunk %s missing", typ)
	}
	t.Logf("%s: %d bytes, %d chunks", filepath.Base(file), len(data), len(chunks))
}

func TestReadICNSRefusesDamage(t *testing.T) {
	good, err := icns(func(size int) ([]byte, error) { return []byte("png"), nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readICNS(good); err != nil {
		t.Fatalf("a well-formed file: %v", err)
	}
	for name, bad := range map[string][]byte{
		"magic":     append([]byte("icnz"), good[4:]...),
		"truncated": good[:len(good)-1],
	} {
		if _, err := readICNS(bad); err == nil {
			t.Errorf("%s: damaged file read", name)
		}
	}
}
