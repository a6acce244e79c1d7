// Package imagearchive writes a single-layer container image as a tarball in
// the `docker save` format, loadable with `docker load`, from a directory on
// disk. It needs no container engine or registry, so images can be built fully
// offline.
//
// The archive holds manifest.json, the image config (named after its own
// sha256), one layer directory named after the sha256 of its layer.tar, and
// the legacy `repositories` file. Output is deterministic: the same inputs
// always give byte-identical archives.
package imagearchive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berthvm/berth/packaging/imagebuild/fstree"
)

// Config is the part of the image's runtime configuration that Berth sets.
type Config struct {
	Entrypoint   []string
	Cmd          []string
	Env          []string // "KEY=value"
	WorkingDir   string   // absolute path inside the image, or ""
	User         string   // "uid[:gid]" or a name known to the image, or ""
	ExposedPorts []string // "80/tcp", "53/udp", "9/sctp"; a bare "80" means tcp
	Labels       map[string]string
}

// Image describes the archive to write.
type Image struct {
	// Tags are full references with an explicit tag, e.g.
	// "berth/welcome:latest". docker load rejects untagged names.
	Tags []string
	// Arch is a GOARCH name (amd64, arm64, ...), optionally followed by a
	// variant as in "arm/v7".
	Arch   string
	Config Config
	// RootFS is the directory whose contents become the single layer.
	// Symlinks inside it are stored as symlinks, never followed.
	RootFS string
	// Created is the image creation time and also the mtime of every layer
	// entry (like SOURCE_DATE_EPOCH). Zero means the Unix epoch. It is
	// truncated to whole seconds so tar headers stay plain ustar.
	Created time.Time
	// TempDir is where the layer is staged before its digest is known;
	// "" means os.TempDir(). Point it at a disk-backed directory for large
	// root filesystems.
	TempDir string
}

// whiteoutPrefix marks deletions in image layers; docker load would silently
// drop such files instead of storing them.
const whiteoutPrefix = ".wh."

// Write writes img to w as a `docker save` tarball. The layer is staged in a
// temporary file so its digest can be computed without buffering file
// contents in memory. w is not closed.
func Write(w io.Writer, img Image) error {
	spec, err := validate(img)
	if err != nil {
		return err
	}

	layer, err := os.CreateTemp(img.TempDir, "berth-layer-*.tar")
	if err != nil {
		return fmt.Errorf("create layer temp file: %w", err)
	}
	defer func() {
		layer.Close()
		os.Remove(layer.Name())
	}()

	hash := sha256.New()
	buf := bufio.NewWriterSize(layer, 1<<20)
	if err := writeLayer(io.MultiWriter(buf, hash), spec.root, spec.created); err != nil {
		return err
	}
	if err := buf.Flush(); err != nil {
		return fmt.Errorf("write layer temp file: %w", err)
	}
	layerSize, err := layer.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("size layer temp file: %w", err)
	}
	if _, err := layer.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind layer temp file: %w", err)
	}
	layerHex := hex.EncodeToString(hash.Sum(nil))

	runtime := runtimeConfig{
		Entrypoint:   img.Config.Entrypoint,
		Cmd:          img.Config.Cmd,
		Env:          img.Config.Env,
		WorkingDir:   img.Config.WorkingDir,
		User:         img.Config.User,
		ExposedPorts: spec.ports,
		Labels:       img.Config.Labels,
	}
	configJSON, err := marshal(imageConfig{
		Architecture: spec.arch,
		Variant:      spec.variant,
		OS:           "linux",
		Created:      spec.created,
		Config:       runtime,
		RootFS:       rootFS{Type: "layers", DiffIDs: []string{"sha256:" + layerHex}},
		History: []history{{
			Created:   spec.created,
			CreatedBy: "berth imagearchive: copy rootfs",
		}},
	})
	if err != nil {
		return fmt.Errorf("encode image config: %w", err)
	}
	configSum := sha256.Sum256(configJSON)
	configName := hex.EncodeToString(configSum[:]) + ".json"

	// Per-layer VERSION and json are only read by pre-1.10 loaders; they are
	// cheap and keep the archive identical in shape to `docker save` output.
	legacyJSON, err := marshal(legacyLayer{
		ID:           layerHex,
		Created:      spec.created,
		Architecture: spec.arch,
		Variant:      spec.variant,
		OS:           "linux",
		Config:       runtime,
	})
	if err != nil {
		return fmt.Errorf("encode legacy layer json: %w", err)
	}

	layerPath := layerHex + "/layer.tar"
	manifestJSON, err := marshal([]manifestEntry{{
		Config:   configName,
		RepoTags: spec.tags,
		Layers:   []string{layerPath},
	}})
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}

	repos := map[string]map[string]string{}
	for _, ref := range spec.refs {
		if repos[ref.repo] == nil {
			repos[ref.repo] = map[string]string{}
		}
		repos[ref.repo][ref.tag] = layerHex
	}
	reposJSON, err := marshal(repos)
	if err != nil {
		return fmt.Errorf("encode repositories: %w", err)
	}

	tw := tar.NewWriter(w)
	mtime := spec.created
	if err := tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeDir, Name: layerHex + "/", Mode: 0o755, ModTime: mtime,
	}); err != nil {
		return fmt.Errorf("write archive entry %s/: %w", layerHex, err)
	}
	if err := writeBytes(tw, layerHex+"/VERSION", []byte("1.0"), mtime); err != nil {
		return err
	}
	if err := writeBytes(tw, layerHex+"/json", legacyJSON, mtime); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg, Name: layerPath, Mode: 0o644, Size: layerSize, ModTime: mtime,
	}); err != nil {
		return fmt.Errorf("write archive entry %s: %w", layerPath, err)
	}
	if _, err := io.CopyN(tw, layer, layerSize); err != nil {
		return fmt.Errorf("write archive entry %s: %w", layerPath, err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{configName, configJSON},
		{"manifest.json", manifestJSON},
		{"repositories", reposJSON},
	} {
		if err := writeBytes(tw, f.name, f.data, mtime); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finish archive: %w", err)
	}
	return nil
}

// JSON documents of the docker save format. Field order is fixed by the
// structs and encoding/json sorts map keys, which keeps output deterministic.
type (
	manifestEntry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	runtimeConfig struct {
		User         string              `json:"User,omitempty"`
		ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
		Env          []string            `json:"Env,omitempty"`
		Entrypoint   []string            `json:"Entrypoint,omitempty"`
		Cmd          []string            `json:"Cmd,omitempty"`
		WorkingDir   string              `json:"WorkingDir,omitempty"`
		Labels       map[string]string   `json:"Labels,omitempty"`
	}
	rootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	}
	history struct {
		Created   time.Time `json:"created"`
		CreatedBy string    `json:"created_by"`
	}
	imageConfig struct {
		Architecture string        `json:"architecture"`
		Variant      string        `json:"variant,omitempty"`
		OS           string        `json:"os"`
		Created      time.Time     `json:"created"`
		Config       runtimeConfig `json:"config"`
		RootFS       rootFS        `json:"rootfs"`
		History      []history     `json:"history"`
	}
	legacyLayer struct {
		ID           string        `json:"id"`
		Created      time.Time     `json:"created"`
		Architecture string        `json:"architecture"`
		Variant      string        `json:"variant,omitempty"`
		OS           string        `json:"os"`
		Config       runtimeConfig `json:"config"`
	}
)

// marshal encodes v without HTML escaping so commands like "a && b" stay
// readable in the config.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func writeBytes(tw *tar.Writer, name string, data []byte, mtime time.Time) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: mtime}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write archive entry %s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("write archive entry %s: %w", name, err)
	}
	return nil
}

// writeLayer writes the contents of root (not root itself) as a tar stream.
// WalkDir visits entries in lexical order and parents before children, which
// makes the stream deterministic; ownership and mtimes are normalized.
func writeLayer(w io.Writer, root string, mtime time.Time) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk rootfs %s: %w", p, err)
		}
		if p == root {
			return nil
		}
		if err := addEntry(tw, root, p, d, mtime); err != nil {
			return fmt.Errorf("write layer %s: %w", p, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finish layer: %w", err)
	}
	return nil
}

func addEntry(tw *tar.Writer, root, p string, d fs.DirEntry, mtime time.Time) error {
	if strings.HasPrefix(d.Name(), whiteoutPrefix) {
		return fmt.Errorf("names starting with %q are reserved for layer whiteouts", whiteoutPrefix)
	}
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return err
	}
	fi, err := d.Info() // Lstat: symlinks are described, not followed
	if err != nil {
		return err
	}
	hdr := &tar.Header{
		Name:    filepath.ToSlash(rel),
		Mode:    int64(fstree.UnixPerm(fi.Mode())),
		ModTime: mtime,
		// Uid/Gid stay 0: files belong to root in the image regardless of
		// who built the rootfs.
	}
	switch m := fi.Mode(); {
	case m.IsDir():
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
	case m&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = filepath.ToSlash(target)
	case m.IsRegular():
		return addRegular(tw, p, hdr, fi)
	default:
		return fmt.Errorf("unsupported file type %v", m.Type())
	}
	return tw.WriteHeader(hdr)
}

// addRegular copies one file. Hard links are not detected: each name gets its
// own copy of the data, which is correct but larger.
func addRegular(tw *tar.Writer, p string, hdr *tar.Header, walked fs.FileInfo) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	// Open follows symlinks, so make sure we got the file that was walked.
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || !os.SameFile(walked, fi) {
		return errors.New("file was replaced while reading")
	}
	hdr.Typeflag = tar.TypeReg
	hdr.Size = fi.Size()
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	n, err := io.Copy(tw, f)
	if err != nil {
		return err // includes tar.ErrWriteTooLong if the file grew
	}
	if n != hdr.Size {
		return fmt.Errorf("file shrank while reading: got %d of %d bytes", n, hdr.Size)
	}
	return nil
}

// spec is a validated, normalized Image.
type spec struct {
	tags    []string
	refs    []reference
	arch    string
	variant string
	ports   map[string]struct{}
	root    string
	created time.Time
}

type reference struct{ repo, tag string }

func validate(img Image) (spec, error) {
	var s spec
	if len(img.Tags) == 0 {
		return s, errors.New("image needs at least one tag")
	}
	seen := map[string]bool{}
	for _, t := range img.Tags {
		repo, tag, err := ParseTag(t)
		if err != nil {
			return s, err
		}
		if seen[t] {
			return s, fmt.Errorf("duplicate tag %q", t)
		}
		seen[t] = true
		s.tags = append(s.tags, t)
		s.refs = append(s.refs, reference{repo, tag})
	}

	arch, variant, err := parseArch(img.Arch)
	if err != nil {
		return s, err
	}
	s.arch, s.variant = arch, variant

	if len(img.Config.ExposedPorts) > 0 {
		s.ports = map[string]struct{}{}
		for _, p := range img.Config.ExposedPorts {
			norm, err := ParsePort(p)
			if err != nil {
				return s, err
			}
			s.ports[norm] = struct{}{}
		}
	}
	for _, e := range img.Config.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return s, fmt.Errorf("invalid env %q: want KEY=value", e)
		}
	}
	for k := range img.Config.Labels {
		if k == "" {
			return s, errors.New("invalid label: empty key")
		}
	}
	if wd := img.Config.WorkingDir; wd != "" && !path.IsAbs(wd) {
		return s, fmt.Errorf("invalid working dir %q: must be an absolute path", wd)
	}

	if img.RootFS == "" {
		return s, errors.New("rootfs directory not set")
	}
	// Resolve a symlinked root up front: WalkDir would not descend into it.
	root, err := filepath.EvalSymlinks(img.RootFS)
	if err != nil {
		return s, fmt.Errorf("rootfs %s: %w", img.RootFS, err)
	}
	fi, err := os.Stat(root)
	if err != nil {
		return s, fmt.Errorf("rootfs %s: %w", img.RootFS, err)
	}
	if !fi.IsDir() {
		return s, fmt.Errorf("rootfs %s: not a directory", img.RootFS)
	}
	s.root = root

	s.created = time.Unix(0, 0).UTC()
	if !img.Created.IsZero() {
		s.created = img.Created.Truncate(time.Second).UTC()
	}
	return s, nil
}

// ParseTag splits "name:tag" into repository and tag, enforcing the
// distribution reference grammar that `docker load` applies to RepoTags. The
// tag is mandatory and digests are rejected because load only accepts tags.
func ParseTag(s string) (repo, tag string, err error) {
	fail := func(why string) (string, string, error) {
		return "", "", fmt.Errorf("invalid tag %q: %s", s, why)
	}
	if strings.Contains(s, "@") {
		return fail("digest references are not supported")
	}
	// The tag colon is the last one after the last slash; an earlier colon
	// belongs to a registry port ("localhost:5000/app:v1").
	i := strings.LastIndexByte(s, ':')
	if i < 0 || strings.LastIndexByte(s, '/') > i {
		return fail("missing :TAG")
	}
	repo, tag = s[:i], s[i+1:]
	if !validTag(tag) {
		return fail("tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
	}
	if repo == "" {
		return fail("empty name")
	}
	if len(repo) > 255 {
		return fail("name longer than 255 characters")
	}
	parts := strings.Split(repo, "/")
	// Same rule as docker: the first part is a registry only if it looks like
	// a host name; otherwise it is a path component and must be lowercase.
	if first := parts[0]; len(parts) > 1 &&
		(strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first) {
		if !validDomain(first) {
			return fail(fmt.Sprintf("bad registry host %q", first))
		}
		parts = parts[1:]
	}
	for _, p := range parts {
		if !validPathComponent(p) {
			return fail(fmt.Sprintf("bad name component %q (lowercase letters, digits and single separators . _ __ - only)", p))
		}
	}
	return repo, tag, nil
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func isWord(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

func validTag(t string) bool {
	if t == "" || len(t) > 128 || !isWord(t[0]) {
		return false
	}
	for i := 1; i < len(t); i++ {
		if c := t[i]; !isWord(c) && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// validPathComponent matches [a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*.
func validPathComponent(p string) bool {
	i := 0
	for {
		start := i
		for i < len(p) && isLowerAlnum(p[i]) {
			i++
		}
		if i == start {
			return false // empty, or separator not followed by alnum
		}
		if i == len(p) {
			return true
		}
		switch {
		case p[i] == '.':
			i++
		case strings.HasPrefix(p[i:], "__"):
			i += 2
		case p[i] == '_':
			i++
		case p[i] == '-':
			for i < len(p) && p[i] == '-' {
				i++
			}
		default:
			return false
		}
	}
}

// validDomain accepts host[:port] with DNS-style host labels. Bracketed IPv6
// registries are not supported.
func validDomain(d string) bool {
	host, port, hasPort := strings.Cut(d, ":")
	if hasPort {
		if port == "" {
			return false
		}
		for i := 0; i < len(port); i++ {
			if port[i] < '0' || port[i] > '9' {
				return false
			}
		}
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// ParsePort validates a port spec and returns its canonical form
// ("80" -> "80/tcp", "53/UDP" -> "53/udp").
func ParsePort(s string) (string, error) {
	num, proto, hasProto := strings.Cut(s, "/")
	if !hasProto {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return "", fmt.Errorf("invalid port %q: protocol must be tcp, udp or sctp", s)
	}
	n, err := strconv.ParseUint(num, 10, 16)
	if err != nil || n == 0 {
		return "", fmt.Errorf("invalid port %q: port must be a number from 1 to 65535", s)
	}
	return strconv.FormatUint(n, 10) + "/" + proto, nil
}

// parseArch accepts GOARCH names that have Linux container images, plus an
// optional "/variant" such as "arm/v7".
func parseArch(s string) (arch, variant string, err error) {
	arch, variant, hasVariant := strings.Cut(s, "/")
	switch arch {
	case "386", "amd64", "arm", "arm64", "loong64", "mips", "mipsle", "mips64",
		"mips64le", "ppc64", "ppc64le", "riscv64", "s390x":
	case "":
		return "", "", errors.New("architecture not set")
	default:
		return "", "", fmt.Errorf("invalid architecture %q: want a GOARCH name such as amd64 or arm64", s)
	}
	if hasVariant && !validVariant(variant) {
		return "", "", fmt.Errorf("invalid architecture %q: variant must look like v7 or v8.2", s)
	}
	return arch, variant, nil
}

func validVariant(v string) bool {
	if len(v) < 2 || v[0] != 'v' || v[1] < '0' || v[1] > '9' || v[len(v)-1] == '.' {
		return false
	}
	for i := 2; i < len(v); i++ {
		if c := v[i]; !(c >= '0' && c <= '9' || c == '.') {
			return false
		}
	}
	return true
}
