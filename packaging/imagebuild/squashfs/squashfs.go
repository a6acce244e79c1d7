// Package squashfs writes an fstree as a SquashFS 4.0 image compressed with
// zstd (or with its files' data stored): the guest's read-only system
// image, which Debian's kernels mount with their squashfs module. It
// writes what a root filesystem needs and no
// more: no fragments (a file's tail is a short block of its own), no NFS
// export table, no extended attributes; identical files share their data.
// Output depends only on the tree and the mtime, never on the host.
package squashfs

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"runtime"
	"slices"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/errgroup"

	"github.com/berthvm/berth/packaging/imagebuild/fstree"
)

const (
	blockSize     = 128 << 10
	blockLog      = 17
	metaSize      = 8192
	compZstd      = 6
	flagNoXattrs  = 0x0200
	flagNoFrags   = 0x0010
	flagDupes     = 0x0040
	uncompressed  = 1 << 24 // in a data block's size: stored as is
	metaRaw       = 0x8000  // in a metadata block's header: stored as is
	noFragment    = 0xffffffff
	invalidOffset = math.MaxUint64
)

// Inode types; directory entries always carry the basic one.
const (
	typeDir = 1 + iota
	typeFile
	typeSymlink
	typeBlock
	typeChar
	typeFifo
	typeSocket
	typeExtDir  = 8
	typeExtFile = 9
)

// Data says how files' data blocks are written.
type Data int

const (
	// Compressed blocks (zstd, each on its own): the smallest image.
	Compressed Data = iota
	// Stored blocks, as they are: a larger image, but one that a package
	// compressing all its files as one stream (the .deb, the Windows
	// installer) shrinks further, because the engine's binaries share much
	// of their code and a block compressed alone cannot refer to another
	// file's. The guest then reads files without decompressing them.
	Stored
)

// Write writes t to w as a SquashFS image, every time stamp mtime, its
// files' data as data says. Metadata is always compressed.
func Write(w io.Writer, t *fstree.Tree, mtime time.Time, data Data) error {
	// No checksum in the frames: the kernel stops feeding its decoder
	// output pages once a block's data is out, and a frame whose checksum
	// follows a block that fills them exactly then fails with EIO (squashfs
	// "zstd decompression failed"); mksquashfs writes none either.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression),
		zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(blockSize), zstd.WithEncoderCRC(false))
	if err != nil {
		return err
	}
	defer enc.Close()
	wr := &writer{
		enc: enc, mtime: uint32(mtime.Unix()),
		num: map[*fstree.Node]uint32{}, ref: map[*fstree.Node]uint64{},
		nlink: map[*fstree.Node]uint32{}, ids: map[uint32]uint16{},
		data: map[[32]byte]fileData{}, parent: map[*fstree.Node]uint32{},
	}
	wr.inodes.enc, wr.dirs.enc = enc, enc
	if err := wr.number(t.Root); err != nil {
		return err
	}
	var out bytes.Buffer
	out.Write(make([]byte, 96)) // the superblock, written last
	if err := wr.writeData(&out, t.Root, data); err != nil {
		return err
	}
	wr.parent[t.Root] = wr.count + 1 // mksquashfs's convention for "/.."
	rootRef, err := wr.writeInodes(t.Root)
	if err != nil {
		return err
	}
	inodeStart := uint64(out.Len())
	out.Write(wr.inodes.finish())
	dirStart := uint64(out.Len())
	out.Write(wr.dirs.finish())

	// The id table: the uids and gids, then where their metadata block is.
	var idm metaWriter
	idm.enc = enc
	for _, id := range wr.idList {
		idm.write(binary.LittleEndian.AppendUint32(nil, id))
	}
	idBlocks := uint64(out.Len())
	idData := idm.finish()
	out.Write(idData)
	idTable := uint64(out.Len())
	for _, s := range idm.starts {
		out.Write(binary.LittleEndian.AppendUint64(nil, idBlocks+uint64(s)))
	}
	used := uint64(out.Len())
	// Block devices are read in 4 KiB units: pad to a whole one.
	out.Write(make([]byte, (4096-used%4096)%4096))

	sb := out.Bytes()[:96]
	le := binary.LittleEndian
	le.PutUint32(sb[0:], 0x73717368)
	le.PutUint32(sb[4:], wr.count)
	le.PutUint32(sb[8:], wr.mtime)
	le.PutUint32(sb[12:], blockSize)
	le.PutUint32(sb[16:], 0) // fragments
	le.PutUint16(sb[20:], compZstd)
	le.PutUint16(sb[22:], blockLog)
	le.PutUint16(sb[24:], flagNoXattrs|flagNoFrags|flagDupes)
	le.PutUint16(sb[26:], uint16(len(wr.idList)))
	le.PutUint16(sb[28:], 4)
	le.PutUint16(sb[30:], 0)
	le.PutUint64(sb[32:], rootRef)
	le.PutUint64(sb[40:], used)
	le.PutUint64(sb[48:], idTable)
	le.PutUint64(sb[56:], invalidOffset) // xattrs
	le.PutUint64(sb[64:], inodeStart)
	le.PutUint64(sb[72:], dirStart)
	le.PutUint64(sb[80:], invalidOffset) // fragment table
	le.PutUint64(sb[88:], invalidOffset) // export table
	_, err = w.Write(out.Bytes())
	return err
}

type fileData struct {
	start uint64
	sizes []uint32
}

type writer struct {
	enc    *zstd.Encoder
	mtime  uint32
	count  uint32                  // inodes numbered
	num    map[*fstree.Node]uint32 // inode numbers
	nlink  map[*fstree.Node]uint32 // names of each non-directory
	parent map[*fstree.Node]uint32 // directory -> its parent's number
	ref    map[*fstree.Node]uint64 // written inodes' references
	ids    map[uint32]uint16
	idList []uint32
	data   map[[32]byte]fileData // by content, so copies share blocks
	files  map[*fstree.Node]fileData
	inodes metaWriter
	dirs   metaWriter
}

// number gives every inode its number, parents before children, and
// counts hard links.
func (wr *writer) number(root *fstree.Node) error {
	var visit func(n *fstree.Node) error
	visit = func(n *fstree.Node) error {
		if len(n.Xattrs) > 0 {
			return errors.New("extended attributes are not supported by this squashfs writer")
		}
		if _, ok := wr.num[n]; ok {
			if n.IsDir() {
				return errors.New("a directory has two names")
			}
			wr.nlink[n]++
			return nil
		}
		wr.count++
		wr.num[n] = wr.count
		wr.nlink[n] = 1
		wr.id(n.UID)
		wr.id(n.GID)
		if n.IsDir() {
			for _, name := range n.Names() {
				c := n.Child(name)
				if c.IsDir() {
					wr.parent[c] = wr.num[n]
				}
				if err := visit(c); err != nil {
					return fmt.Errorf("%s/%w", name, err)
				}
			}
		}
		return nil
	}
	return visit(root)
}

func (wr *writer) id(id uint32) uint16 {
	if i, ok := wr.ids[id]; ok {
		return i
	}
	i := uint16(len(wr.idList))
	wr.ids[id] = i
	wr.idList = append(wr.idList, id)
	return i
}

// writeData writes every regular file's blocks, in walk order compressed
// in parallel, or stored smallest file first.
func (wr *writer) writeData(out *bytes.Buffer, root *fstree.Node, data Data) error {
	var files []*fstree.Node
	seen := map[*fstree.Node]bool{}
	if err := (&fstree.Tree{Root: root}).Walk(func(p string, n *fstree.Node) error {
		if n.Mode.IsRegular() && !seen[n] && len(n.Data) > 0 {
			seen[n] = true
			files = append(files, n)
		}
		return nil
	}); err != nil {
		return err
	}
	if data == Stored {
		// Smallest first puts the large executables last and side by side:
		// the engine's Go binaries share much of their code, which a
		// package's compressor finds only within its window (xz's 64 MiB).
		slices.SortStableFunc(files, func(a, b *fstree.Node) int { return cmp.Compare(len(a.Data), len(b.Data)) })
	}
	blocks := make([][][]byte, len(files))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	if data == Compressed {
		for i, n := range files {
			g.Go(func() error {
				for off := 0; off < len(n.Data); off += blockSize {
					b := n.Data[off:min(off+blockSize, len(n.Data))]
					blocks[i] = append(blocks[i], wr.enc.EncodeAll(b, make([]byte, 0, len(b))))
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	wr.files = map[*fstree.Node]fileData{}
	for i, n := range files {
		sum := sha256.Sum256(n.Data)
		if d, ok := wr.data[sum]; ok {
			wr.files[n] = d
			continue
		}
		d := fileData{start: uint64(out.Len())}
		for j := 0; j*blockSize < len(n.Data); j++ {
			raw := n.Data[j*blockSize : min((j+1)*blockSize, len(n.Data))]
			if data == Stored || len(blocks[i][j]) >= len(raw) {
				out.Write(raw)
				d.sizes = append(d.sizes, uint32(len(raw))|uncompressed)
			} else {
				out.Write(blocks[i][j])
				d.sizes = append(d.sizes, uint32(len(blocks[i][j])))
			}
		}
		wr.data[sum] = d
		wr.files[n] = d
	}
	return nil
}

// writeInodes writes n's inode after its children's (a directory's listing
// needs their references) and returns its reference.
func (wr *writer) writeInodes(n *fstree.Node) (uint64, error) {
	if r, ok := wr.ref[n]; ok {
		return r, nil
	}
	le := binary.LittleEndian
	if n.IsDir() {
		type entry struct {
			name string
			ref  uint64
			num  uint32
			typ  uint16
		}
		var entries []entry
		subdirs := uint32(0)
		for _, name := range n.Names() {
			c := n.Child(name)
			r, err := wr.writeInodes(c)
			if err != nil {
				return 0, err
			}
			if c.IsDir() {
				subdirs++
			}
			entries = append(entries, entry{name, r, wr.num[c], basicType(c.Mode)})
		}
		// The listing: runs of entries sharing one inode metadata block,
		// at most 256 each, inode numbers within int16 of the run's first.
		listStart := wr.dirs.pos()
		var list []byte
		for i := 0; i < len(entries); {
			j := i + 1
			for j < len(entries) && j-i < 256 && entries[j].ref>>16 == entries[i].ref>>16 &&
				int64(entries[j].num)-int64(entries[i].num) <= math.MaxInt16 &&
				int64(entries[j].num)-int64(entries[i].num) >= math.MinInt16 {
				j++
			}
			list = le.AppendUint32(list, uint32(j-i-1))
			list = le.AppendUint32(list, uint32(entries[i].ref>>16))
			list = le.AppendUint32(list, entries[i].num)
			for _, e := range entries[i:j] {
				if len(e.name) > 256 {
					return 0, fmt.Errorf("name %q longer than 256 bytes", e.name)
				}
				list = le.AppendUint16(list, uint16(e.ref&0xffff))
				list = le.AppendUint16(list, uint16(int16(int64(e.num)-int64(entries[i].num))))
				list = le.AppendUint16(list, e.typ)
				list = le.AppendUint16(list, uint16(len(e.name)-1))
				list = append(list, e.name...)
			}
			i = j
		}
		wr.dirs.write(list)
		size := uint32(len(list) + 3) // as mksquashfs counts "." and ".."
		b := wr.header(n, typeDir)
		if size <= math.MaxUint16 {
			b = le.AppendUint32(b, uint32(listStart>>16))
			b = le.AppendUint32(b, 2+subdirs)
			b = le.AppendUint16(b, uint16(size))
			b = le.AppendUint16(b, uint16(listStart&0xffff))
			b = le.AppendUint32(b, wr.parent[n])
		} else {
			b = wr.header(n, typeExtDir)
			b = le.AppendUint32(b, 2+subdirs)
			b = le.AppendUint32(b, size)
			b = le.AppendUint32(b, uint32(listStart>>16))
			b = le.AppendUint32(b, wr.parent[n])
			b = le.AppendUint16(b, 0) // no index
			b = le.AppendUint16(b, uint16(listStart&0xffff))
			b = le.AppendUint32(b, 0xffffffff) // no xattrs
		}
		return wr.put(n, b), nil
	}
	var b []byte
	switch {
	case n.Mode.IsRegular():
		d := wr.files[n]
		if wr.nlink[n] == 1 && d.start <= math.MaxUint32 && len(n.Data) <= math.MaxUint32 {
			b = wr.header(n, typeFile)
			b = le.AppendUint32(b, uint32(d.start))
			b = le.AppendUint32(b, noFragment)
			b = le.AppendUint32(b, 0)
			b = le.AppendUint32(b, uint32(len(n.Data)))
		} else {
			b = wr.header(n, typeExtFile)
			b = le.AppendUint64(b, d.start)
			b = le.AppendUint64(b, uint64(len(n.Data)))
			b = le.AppendUint64(b, 0) // sparse bytes
			b = le.AppendUint32(b, wr.nlink[n])
			b = le.AppendUint32(b, noFragment)
			b = le.AppendUint32(b, 0)
			b = le.AppendUint32(b, 0xffffffff) // no xattrs
		}
		for _, s := range d.sizes {
			b = le.AppendUint32(b, s)
		}
	case n.Mode&fs.ModeSymlink != 0:
		b = wr.header(n, typeSymlink)
		b = le.AppendUint32(b, wr.nlink[n])
		b = le.AppendUint32(b, uint32(len(n.Target)))
		b = append(b, n.Target...)
	case n.Mode&fs.ModeDevice != 0:
		typ := uint16(typeBlock)
		if n.Mode&fs.ModeCharDevice != 0 {
			typ = typeChar
		}
		b = wr.header(n, typ)
		b = le.AppendUint32(b, wr.nlink[n])
		b = le.AppendUint32(b, n.Minor&0xff|n.Major<<8|(n.Minor&^0xff)<<12)
	case n.Mode&fs.ModeNamedPipe != 0:
		b = wr.header(n, typeFifo)
		b = le.AppendUint32(b, wr.nlink[n])
	case n.Mode&fs.ModeSocket != 0:
		b = wr.header(n, typeSocket)
		b = le.AppendUint32(b, wr.nlink[n])
	default:
		return 0, fmt.Errorf("unsupported file type %v", n.Mode.Type())
	}
	return wr.put(n, b), nil
}

func (wr *writer) put(n *fstree.Node, inode []byte) uint64 {
	r := wr.inodes.pos()
	wr.inodes.write(inode)
	wr.ref[n] = r
	return r
}

func (wr *writer) header(n *fstree.Node, typ uint16) []byte {
	le := binary.LittleEndian
	b := le.AppendUint16(nil, typ)
	b = le.AppendUint16(b, uint16(fstree.UnixPerm(n.Mode)))
	b = le.AppendUint16(b, wr.id(n.UID))
	b = le.AppendUint16(b, wr.id(n.GID))
	b = le.AppendUint32(b, wr.mtime)
	return le.AppendUint32(b, wr.num[n])
}

func basicType(m fs.FileMode) uint16 {
	switch {
	case m.IsDir():
		return typeDir
	case m&fs.ModeSymlink != 0:
		return typeSymlink
	case m&fs.ModeDevice != 0 && m&fs.ModeCharDevice != 0:
		return typeChar
	case m&fs.ModeDevice != 0:
		return typeBlock
	case m&fs.ModeNamedPipe != 0:
		return typeFifo
	case m&fs.ModeSocket != 0:
		return typeSocket
	}
	return typeFile
}

// metaWriter packs a stream into metadata blocks: 8 KiB of the stream,
// compressed when that helps, after a 2-byte header.
type metaWriter struct {
	enc    *zstd.Encoder
	out    []byte // finished blocks
	buf    []byte // the block being filled
	starts []int  // where each finished block begins in out
}

// pos is where the next byte goes: the start of its block in the output,
// shifted 16, plus its offset in the block, as squashfs references are.
func (m *metaWriter) pos() uint64 { return uint64(len(m.out))<<16 | uint64(len(m.buf)) }

func (m *metaWriter) write(b []byte) {
	for len(b) > 0 {
		n := min(metaSize-len(m.buf), len(b))
		m.buf = append(m.buf, b[:n]...)
		b = b[n:]
		if len(m.buf) == metaSize {
			m.flush()
		}
	}
}

func (m *metaWriter) flush() {
	m.starts = append(m.starts, len(m.out))
	c := m.enc.EncodeAll(m.buf, nil)
	if len(c) < len(m.buf) {
		m.out = binary.LittleEndian.AppendUint16(m.out, uint16(len(c)))
		m.out = append(m.out, c...)
	} else {
		m.out = binary.LittleEndian.AppendUint16(m.out, uint16(len(m.buf))|metaRaw)
		m.out = append(m.out, m.buf...)
	}
	m.buf = m.buf[:0]
}

func (m *metaWriter) finish() []byte {
	if len(m.buf) > 0 {
		m.flush()
	}
	return m.out
}
