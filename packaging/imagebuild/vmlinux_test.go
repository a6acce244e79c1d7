package imagebuild

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"testing"
)

// fakeVmlinux is laid out like a kernel's vmlinux: segments at 2 MiB
// alignment in the file, the last one ending in zeros (its .bss), a PVH
// note inside the first.
func fakeVmlinux() []byte {
	const align = 2 << 20
	text := append([]byte("text and rodata"), make([]byte, 100)...)
	copy(text[40:], "PVH-NOTE")
	data := append([]byte("data"), make([]byte, 5000)...) // 5000 zero bytes of .bss
	b := make([]byte, 2*align+len(data))
	le := binary.LittleEndian
	copy(b, "\x7fELF\x02\x01\x01")
	le.PutUint16(b[0x10:], uint16(elf.ET_EXEC))
	le.PutUint16(b[0x12:], uint16(elf.EM_X86_64))
	le.PutUint32(b[0x14:], 1)
	le.PutUint64(b[0x18:], 0x1000000)
	le.PutUint64(b[0x20:], 64)
	le.PutUint16(b[0x34:], 64)
	le.PutUint16(b[0x36:], 56)
	le.PutUint16(b[0x38:], 3)
	le.PutUint16(b[0x3a:], 64)
	ph := func(i int, typ elf.ProgType, off, vaddr, paddr, filesz, memsz, al uint64) {
		p := b[64+56*i:]
		le.PutUint32(p, uint32(typ))
		le.PutUint64(p[8:], off)
		le.PutUint64(p[16:], vaddr)
		le.PutUint64(p[24:], paddr)
		le.PutUint64(p[32:], filesz)
		le.PutUint64(p[40:], memsz)
		le.PutUint64(p[48:], al)
	}
	ph(0, elf.PT_LOAD, align, 0xffffffff81000000, 0x1000000, uint64(len(text)), uint64(len(text)), align)
	ph(1, elf.PT_LOAD, 2*align, 0xffffffff82c00123, 0x2c00123, uint64(len(data)), uint64(len(data))+4096, align)
	ph(2, elf.PT_NOTE, align+40, 0xffffffff81000028, 0x1000028, 8, 8, 4)
	copy(b[align:], text)
	copy(b[2*align:], data)
	return b
}

// The compacted vmlinux loads exactly the same bytes at the same
// addresses, its note still readable, in a fraction of the file.
func TestCompactELF(t *testing.T) {
	in := fakeVmlinux()
	out, err := compactELF(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) > 4*4096 {
		t.Errorf("compacted to %d bytes, want under 16 KiB", len(out))
	}
	fi, _ := elf.NewFile(bytes.NewReader(in))
	fo, err := elf.NewFile(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(fo.Sections) != 0 || len(fo.Progs) != len(fi.Progs) || fo.Entry != fi.Entry {
		t.Fatalf("sections %d, programs %d, entry %#x", len(fo.Sections), len(fo.Progs), fo.Entry)
	}
	for i, p := range fo.Progs {
		q := fi.Progs[i]
		if p.Vaddr != q.Vaddr || p.Paddr != q.Paddr || p.Memsz != q.Memsz || p.Type != q.Type {
			t.Errorf("segment %d moved: %+v, was %+v", i, p.ProgHeader, q.ProgHeader)
		}
		if p.Off%4096 != p.Vaddr%4096 {
			t.Errorf("segment %d: offset %#x not congruent to %#x", i, p.Off, p.Vaddr)
		}
		// What a loader puts in memory: the file bytes, then zeros to memsz.
		mem := func(f []byte, p *elf.Prog) []byte {
			m := make([]byte, p.Memsz)
			copy(m, f[p.Off:p.Off+p.Filesz])
			return m
		}
		if !bytes.Equal(mem(out, p), mem(in, q)) {
			t.Errorf("segment %d loads different bytes", i)
		}
	}
	if n := fo.Progs[2]; string(out[n.Off:n.Off+n.Filesz]) != "PVH-NOTE" {
		t.Errorf("note reads %q", out[n.Off:n.Off+n.Filesz])
	}
	if _, err := compactELF([]byte("\x7fELF fake")); err == nil {
		t.Error("a truncated ELF compacted")
	}
}
