// Package archive talks to a Debian archive as apt does: the signed
// InRelease of a suite, its Packages index, and .deb files downloaded once
// into a content-addressed cache, each checked against what the signed
// index says it must be.
package archive

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"

	"github.com/berthvm/berth/packaging/imagebuild/control"
)

// The Debian archive's public signing keys (bookworm and trixie, automatic,
// security and release keys), exported from debian-archive-keyring, so that
// no keyring need be installed on the build host.
//
//go:embed keys/*.asc
var debianKeys embed.FS

// DebianKeys returns the keyring of the archive keys kept in the repo.
func DebianKeys() (openpgp.EntityList, error) {
	var all openpgp.EntityList
	err := fs.WalkDir(debianKeys, "keys", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := debianKeys.ReadFile(path)
		if err != nil {
			return err
		}
		el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("archive key %s: %w", path, err)
		}
		all = append(all, el...)
		return nil
	})
	return all, err
}

// IndexFile is one file a Release lists: its size and SHA-256.
type IndexFile struct {
	Size   int64
	SHA256 string
}

// Release is a verified InRelease.
type Release struct {
	Suite, Codename, Date string
	ValidUntil            time.Time // zero when the Release has none
	Signer                string    // the signing key's first identity
	Files                 map[string]IndexFile
}

// VerifyRelease checks the clearsigned InRelease against keys and parses
// the signed text only: anything outside the signature is ignored.
func VerifyRelease(inRelease []byte, keys openpgp.KeyRing) (*Release, error) {
	block, _ := clearsign.Decode(inRelease)
	if block == nil {
		return nil, fmt.Errorf("InRelease is not a clearsigned message")
	}
	signer, err := block.VerifySignature(keys, nil)
	if err != nil {
		return nil, fmt.Errorf("InRelease signature: %w (the archive keys are in packaging/imagebuild/archive/keys; a new Debian release needs its keys added there)", err)
	}
	st, err := control.Parse(bytes.NewReader(block.Plaintext))
	if err != nil || len(st) == 0 {
		return nil, fmt.Errorf("InRelease: signed text is not a Release stanza: %v", err)
	}
	r := &Release{
		Suite: st[0].Get("Suite"), Codename: st[0].Get("Codename"), Date: st[0].Get("Date"),
		Files: map[string]IndexFile{},
	}
	if v := st[0].Get("Valid-Until"); v != "" {
		t, err := time.Parse(time.RFC1123, strings.Replace(v, "UTC", "GMT", 1))
		if err != nil {
			return nil, fmt.Errorf("InRelease: Valid-Until %q: %w", v, err)
		}
		r.ValidUntil = t
	}
	for id := range signer.Identities {
		r.Signer = id
		break
	}
	for _, line := range strings.Split(st[0].Get("SHA256"), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("InRelease: size of %s: %w", f[2], err)
		}
		r.Files[f[2]] = IndexFile{Size: size, SHA256: f[0]}
	}
	if len(r.Files) == 0 {
		return nil, fmt.Errorf("InRelease lists no SHA256 checksums")
	}
	return r, nil
}

// Check refuses a Release that is not the suite asked for (a mirror
// serving another suite's signed file) or whose Valid-Until has passed (a
// replayed old one), as apt does.
func (r *Release) Check(suite string, now time.Time) error {
	if r.Suite != suite && r.Codename != suite {
		return fmt.Errorf("InRelease is for suite %q (codename %q), not %q", r.Suite, r.Codename, suite)
	}
	if !r.ValidUntil.IsZero() && now.After(r.ValidUntil) {
		return fmt.Errorf("InRelease expired at %s: the mirror is stale; use another", r.ValidUntil)
	}
	return nil
}
