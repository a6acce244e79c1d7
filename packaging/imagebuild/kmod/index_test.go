package kmod

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
)

// lookup walks an encoded index as libkmod does for an exact key.
func lookup(t *testing.T, b []byte, key string) []string {
	be := binary.BigEndian
	if be.Uint32(b) != indexMagic || be.Uint32(b[4:]) != indexVersion {
		t.Fatal("bad header")
	}
	off := be.Uint32(b[8:])
	for {
		p := int(off & maxNodeOffset)
		if off&nodePrefix != 0 {
			end := p
			for b[end] != 0 {
				end++
			}
			prefix := string(b[p:end])
			if !strings.HasPrefix(key, prefix) {
				return nil
			}
			key, p = key[len(prefix):], end+1
		}
		var first, last byte
		var children int
		if off&nodeChildren != 0 {
			first, last = b[p], b[p+1]
			children = p + 2
			p += 2 + 4*(int(last)-int(first)+1)
		}
		if key == "" {
			if off&nodeValues == 0 {
				return nil
			}
			n := int(be.Uint32(b[p:]))
			p += 4
			var out []string
			for range n {
				prio := be.Uint32(b[p:])
				p += 4
				end := p
				for b[end] != 0 {
					end++
				}
				out = append(out, fmt.Sprintf("%d:%s", prio, b[p:end]))
				p = end + 1
			}
			return out
		}
		if off&nodeChildren == 0 || key[0] < first || key[0] > last {
			return nil
		}
		off = be.Uint32(b[children+4*int(key[0]-first):])
		if off == 0 {
			return nil
		}
		key = key[1:]
	}
}

func TestIndex(t *testing.T) {
	var ix Index
	keys := []string{"xt_tcp", "xt_tcpudp", "xt_udp", "x", "xt_tcp", "nf_nat", "nf_nat_ftp", "fs_overlay", "pci:v00001AF4d*sv*sd*bc*sc*i*"}
	for i, k := range keys {
		ix.Add(k, fmt.Sprintf("v%d", i), uint32(len(keys)-i))
	}
	b, err := ix.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"xt_tcp": "5:v4 9:v0", "xt_tcpudp": "8:v1", "x": "6:v3", "nf_nat_ftp": "3:v6",
		"pci:v00001AF4d*sv*sd*bc*sc*i*": "1:v8", "xt_": "", "nf_na": "", "y": "",
	} {
		if got := strings.Join(lookup(t, b, key), " "); got != want {
			t.Errorf("lookup %q = %q, want %q", key, got, want)
		}
	}
}

func TestNormalizeAlias(t *testing.T) {
	if got := normalizeAlias("fs-overlay-[a-z]x"); got != "fs_overlay_[a-z]x" {
		t.Errorf("got %s", got)
	}
}
