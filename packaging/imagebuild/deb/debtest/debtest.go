// Package debtest builds tiny .deb files for tests.
package debtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Build makes a .deb of the given tar headers and contents, its data
// archive compressed as comp ("xz", "zst", "gz" or ""). It is for tests
// (here and in the packages that use this one), which build tiny packages
// rather than download real ones.
func Build(comp string, control string, files []tar.Header, contents map[string]string) ([]byte, error) {
	var data bytes.Buffer
	tw := tar.NewWriter(&data)
	for _, h := range files {
		c := contents[h.Name]
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(c))
		}
		if err := tw.WriteHeader(&h); err != nil {
			return nil, err
		}
		if _, err := io.WriteString(tw, c); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	var z bytes.Buffer
	name := "data.tar"
	compress := func(w io.WriteCloser, err error) error {
		if err != nil {
			return err
		}
		if _, err := w.Write(data.Bytes()); err != nil {
			return err
		}
		return w.Close()
	}
	var err error
	switch comp {
	case "xz":
		err = compress(xz.NewWriter(&z))
		name += ".xz"
	case "zst":
		err = compress(zstd.NewWriter(&z))
		name += ".zst"
	case "gz":
		err = compress(gzip.NewWriter(&z), nil)
		name += ".gz"
	default:
		z = data
	}
	if err != nil {
		return nil, err
	}
	var ctl bytes.Buffer
	cw := tar.NewWriter(&ctl)
	if err := cw.WriteHeader(&tar.Header{Name: "./control", Mode: 0o644, Size: int64(len(control)), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(cw, control); err != nil {
		return nil, err
	}
	if err := cw.Close(); err != nil {
		return nil, err
	}

	var out bytes.Buffer
	out.WriteString("!<arch>\n")
	member := func(name string, b []byte) {
		fmt.Fprintf(&out, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", name, 0, 0, 0, "100644", len(b))
		out.Write(b)
		if len(b)%2 == 1 {
			out.WriteByte('\n')
		}
	}
	member("debian-binary", []byte("2.0\n"))
	member("control.tar", ctl.Bytes())
	member(name, z.Bytes())
	return out.Bytes(), nil
}
