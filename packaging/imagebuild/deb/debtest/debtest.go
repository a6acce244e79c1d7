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
		io.WriteString(tw, c)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	var z bytes.Buffer
	name := "data.tar"
	switch comp {
	case "xz":
		w, _ := xz.NewWriter(&z)
		w.Write(data.Bytes())
		w.Close()
		name += ".xz"
	case "zst":
		w, _ := zstd.NewWriter(&z)
		w.Write(data.Bytes())
		w.Close()
		name += ".zst"
	case "gz":
		w := gzip.NewWriter(&z)
		w.Write(data.Bytes())
		w.Close()
		name += ".gz"
	default:
		z = data
	}
	var ctl bytes.Buffer
	cw := tar.NewWriter(&ctl)
	cw.WriteHeader(&tar.Header{Name: "./control", Mode: 0o644, Size: int64(len(control)), Typeflag: tar.TypeReg})
	io.WriteString(cw, control)
	cw.Close()

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
