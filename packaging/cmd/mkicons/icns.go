package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// icnsChunks are the PNG-bearing types of Apple's icon container (.icns)
// and the pixel size of each: a 'icns' header (magic, then the whole
// file's length, big-endian), then chunks of a four-character type, a
// length that counts the chunk's 8-byte header, and a PNG. The @2x types
// hold the Retina image of the size they stand for (ic11 is 16 pt at 2x).
var icnsChunks = []struct {
	Type string
	Size int
}{
	{"ic07", 128}, {"ic08", 256}, {"ic09", 512}, {"ic10", 1024}, // 512@2x
	{"ic11", 32}, {"ic12", 64}, {"ic13", 256}, {"ic14", 512}, // 16@2x, 32@2x, 128@2x, 256@2x
}

// icns assembles an .icns file from render, which returns the PNG of a
// size; each size is rendered once.
func icns(render func(size int) ([]byte, error)) ([]byte, error) {
	pngs := map[int][]byte{}
	var body bytes.Buffer
	for _, c := range icnsChunks {
		p, ok := pngs[c.Size]
		if !ok {
			var err error
			if p, err = render(c.Size); err != nil {
				return nil, fmt.Errorf("icns %s: %w", c.Type, err)
			}
			pngs[c.Size] = p
		}
		body.WriteString(c.Type)
		body.Write(binary.BigEndian.AppendUint32(nil, uint32(8+len(p))))
		body.Write(p)
	}
	var out bytes.Buffer
	out.WriteString("icns")
	out.Write(binary.BigEndian.AppendUint32(nil, uint32(8+body.Len())))
	out.Write(body.Bytes())
	return out.Bytes(), nil
}
