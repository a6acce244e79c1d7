// Package vhdx reads what a VHDX disk image says about itself, in plain Go
// so that it runs and is tested on every OS. A dynamic VHDX file is only as
// large as the blocks written so far: its virtual size, the disk the guest
// sees, is an item of the file's metadata region (MS-VHDX 2.6.2.2).
package vhdx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Layout (MS-VHDX 2.2): the file identifier at 0, two region tables at
// 192 and 256 KiB, each 64 KiB with a CRC-32C over it.
const (
	regionTable1    = 192 << 10
	regionTable2    = 256 << 10
	regionTableSize = 64 << 10
	maxMetadataSize = 1 << 20 // the spec's limit for the metadata table is 64 KiB; items follow it
)

var (
	fileSignature     = []byte("vhdxfile")
	regionSignature   = []byte("regi")
	metadataSignature = []byte("metadata")
	// GUIDs as the file stores them: the first three fields little-endian.
	metadataRegion  = guid(0x8B7CA206, 0x4790, 0x4B9A, 0xB8FE575F050F886E)
	virtualDiskSize = guid(0x2FA54224, 0xCD1B, 0x4876, 0xB2115DBED83BF4B8)
)

func guid(d1 uint32, d2, d3 uint16, d4 uint64) [16]byte {
	var g [16]byte
	binary.LittleEndian.PutUint32(g[0:], d1)
	binary.LittleEndian.PutUint16(g[4:], d2)
	binary.LittleEndian.PutUint16(g[6:], d3)
	binary.BigEndian.PutUint64(g[8:], d4)
	return g
}

// ErrInUse is what VirtualSize's error wraps when another process holds
// the file without sharing reads: on Windows, a running VM's disk.
var ErrInUse = errors.New("the disk is in use by a running VM")

// VirtualSize is the size of the disk in the VHDX file at path, in bytes;
// an error wrapping fs.ErrNotExist when there is no file, ErrInUse when it
// cannot be read while a VM holds it.
func VirtualSize(path string) (int64, error) {
	f, err := openShared(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := ReadVirtualSize(f)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// ReadVirtualSize reads the virtual size from a VHDX image. The image's
// log is not replayed: it carries block allocations written before a
// crash, while the size changes only when the disk is resized offline.
func ReadVirtualSize(r io.ReaderAt) (int64, error) {
	sig := make([]byte, len(fileSignature))
	if _, err := r.ReadAt(sig, 0); err != nil || !bytes.Equal(sig, fileSignature) {
		return 0, errors.New("not a VHDX image (no vhdxfile signature)")
	}
	off, length, err := metadataLocation(r)
	if err != nil {
		return 0, err
	}
	if length < 32 || length > maxMetadataSize {
		return 0, fmt.Errorf("metadata region of %d bytes", length)
	}
	md := make([]byte, length)
	if _, err := r.ReadAt(md, int64(off)); err != nil {
		return 0, fmt.Errorf("read the metadata region: %w", err)
	}
	if !bytes.Equal(md[:8], metadataSignature) {
		return 0, errors.New("the metadata region has no metadata signature")
	}
	count := int(binary.LittleEndian.Uint16(md[10:]))
	for i := 0; i < count; i++ {
		e := 32 + 32*i
		if e+32 > len(md) {
			return 0, errors.New("the metadata table runs past its region")
		}
		if !bytes.Equal(md[e:e+16], virtualDiskSize[:]) {
			continue
		}
		item, n := int(binary.LittleEndian.Uint32(md[e+16:])), int(binary.LittleEndian.Uint32(md[e+20:]))
		if n != 8 || item < 0 || item+8 > len(md) {
			return 0, fmt.Errorf("virtual disk size item of %d bytes at %d", n, item)
		}
		size := binary.LittleEndian.Uint64(md[item:])
		if size > 1<<62 {
			return 0, fmt.Errorf("virtual disk size %d", size)
		}
		return int64(size), nil
	}
	return 0, errors.New("the metadata has no virtual disk size")
}

// metadataLocation finds the metadata region in the first region table
// whose checksum holds (the second is the first's copy, for a torn write).
func metadataLocation(r io.ReaderAt) (off uint64, length uint32, err error) {
	err = errors.New("no valid region table")
	for _, at := range []int64{regionTable1, regionTable2} {
		t := make([]byte, regionTableSize)
		if _, rerr := r.ReadAt(t, at); rerr != nil {
			err = fmt.Errorf("read the region table at %d: %w", at, rerr)
			continue
		}
		if !bytes.Equal(t[:4], regionSignature) || !checksumOK(t, 4) {
			continue
		}
		count := int(binary.LittleEndian.Uint32(t[8:]))
		if count > (regionTableSize-16)/32 {
			continue
		}
		for i := 0; i < count; i++ {
			e := t[16+32*i:]
			if bytes.Equal(e[:16], metadataRegion[:]) {
				return binary.LittleEndian.Uint64(e[16:]), binary.LittleEndian.Uint32(e[24:]), nil
			}
		}
		return 0, 0, errors.New("the region table has no metadata region")
	}
	return 0, 0, err
}

// checksumOK checks the CRC-32C at b[at:at+4], computed with those bytes
// zero.
func checksumOK(b []byte, at int) bool {
	want := binary.LittleEndian.Uint32(b[at:])
	c := make([]byte, len(b))
	copy(c, b)
	binary.LittleEndian.PutUint32(c[at:], 0)
	return crc32.Checksum(c, crc32.MakeTable(crc32.Castagnoli)) == want
}
