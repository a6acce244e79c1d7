// Package deb reads Debian binary packages without dpkg: the ar archive,
// its compressed data.tar, and the tar's entries put into an fstree.
package deb

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/berthvm/berth/packaging/imagebuild/fstree"
)

// Member returns the content of the first ar member whose name starts with
// prefix (e.g. "data.tar"), and its full name.
func Member(r io.Reader, prefix string) ([]byte, string, error) {
	br := bufio.NewReader(r)
	magic := make([]byte, 8)
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != "!<arch>\n" {
		return nil, "", fmt.Errorf("not a .deb (ar archive): bad magic")
	}
	hdr := make([]byte, 60)
	for {
		if _, err := io.ReadFull(br, hdr); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, "", fmt.Errorf("no %s* member", prefix)
			}
			return nil, "", fmt.Errorf("ar header: %w", err)
		}
		name := strings.TrimRight(strings.TrimSpace(string(hdr[0:16])), "/")
		size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
		if err != nil || size < 0 {
			return nil, "", fmt.Errorf("ar member %q: bad size", name)
		}
		if strings.HasPrefix(name, prefix) {
			b := make([]byte, size)
			if _, err := io.ReadFull(br, b); err != nil {
				return nil, "", fmt.Errorf("ar member %q: %w", name, err)
			}
			return b, name, nil
		}
		// Members are padded to an even offset.
		if _, err := br.Discard(int(size + size%2)); err != nil {
			return nil, "", fmt.Errorf("ar member %q: %w", name, err)
		}
	}
}

// decompress picks the decompressor by the member's suffix.
func decompress(name string, b []byte) (io.Reader, error) {
	var r io.Reader = bytes.NewReader(b)
	switch path.Ext(name) {
	case ".tar":
		return r, nil
	case ".xz":
		return xz.NewReader(r)
	case ".zst":
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		defer d.Close()
		out, err := d.DecodeAll(b, nil)
		return bytes.NewReader(out), err
	case ".gz":
		return gzip.NewReader(r)
	}
	return nil, fmt.Errorf("unsupported compression of %s", name)
}

// Entry is one file of a package's data archive.
type Entry struct {
	Path string // absolute, cleaned
	Link string // hard link: the absolute path it links to
	Node *fstree.Node
}

// Read returns the entries of a .deb's data archive in archive order.
func Read(r io.Reader) ([]Entry, error) {
	b, name, err := Member(r, "data.tar")
	if err != nil {
		return nil, err
	}
	dr, err := decompress(name, b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var out []Entry
	tr := tar.NewReader(dr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		p := path.Clean("/" + h.Name)
		if p == "/" {
			continue
		}
		n := &fstree.Node{Mode: fs.FileMode(h.Mode).Perm(), UID: uint32(h.Uid), GID: uint32(h.Gid)}
		// setuid, setgid and sticky bits are spelled differently in tar.
		if h.Mode&0o4000 != 0 {
			n.Mode |= fs.ModeSetuid
		}
		if h.Mode&0o2000 != 0 {
			n.Mode |= fs.ModeSetgid
		}
		if h.Mode&0o1000 != 0 {
			n.Mode |= fs.ModeSticky
		}
		for k, v := range h.PAXRecords {
			if x, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
				if n.Xattrs == nil {
					n.Xattrs = map[string][]byte{}
				}
				n.Xattrs[x] = []byte(v)
			}
		}
		e := Entry{Path: p, Node: n}
		switch h.Typeflag {
		case tar.TypeDir:
			n.Mode |= fs.ModeDir
		case tar.TypeReg:
			if n.Data, err = io.ReadAll(tr); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", name, p, err)
			}
		case tar.TypeSymlink:
			n.Mode |= fs.ModeSymlink
			n.Target = h.Linkname
		case tar.TypeLink:
			e.Link = path.Clean("/" + h.Linkname)
		case tar.TypeChar, tar.TypeBlock:
			n.Mode |= fs.ModeDevice
			if h.Typeflag == tar.TypeChar {
				n.Mode |= fs.ModeCharDevice
			}
			n.Major, n.Minor = uint32(h.Devmajor), uint32(h.Devminor)
		case tar.TypeFifo:
			n.Mode |= fs.ModeNamedPipe
		default:
			return nil, fmt.Errorf("%s: %s: unsupported tar entry type %q", name, p, h.Typeflag)
		}
		out = append(out, e)
	}
}

// Apply puts entries into t in order, as dpkg unpacks them: directories
// merge, files replace, hard links share their target's inode.
func Apply(t *fstree.Tree, entries []Entry) error {
	for _, e := range entries {
		n := e.Node
		if e.Link != "" {
			if n = t.Get(e.Link); n == nil || n.IsDir() {
				return fmt.Errorf("%s: hard link to %s, which is not a file unpacked before it", e.Path, e.Link)
			}
		}
		if err := t.Put(e.Path, n); err != nil {
			return err
		}
	}
	return nil
}
