package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ulikunitz/xz"
)

func newKey(t *testing.T, name string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "test", name+"@example.org", nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func clearSign(t *testing.T, key *openpgp.Entity, text string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := clearsign.Encode(&buf, key.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, text)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func hexSum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestDebianKeys(t *testing.T) {
	keys, err := DebianKeys()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 6 {
		t.Fatalf("%d archive keys, want the trixie and bookworm ones (6)", len(keys))
	}
}

// fixture is a tiny archive served over HTTP: a signed InRelease, an xz
// Packages index and one .deb.
type fixture struct {
	srv       *httptest.Server
	deb       []byte
	fail500   atomic.Int32 // answer 500 to this many .deb requests first
	inRelease []byte
}

func newFixture(t *testing.T, signer *openpgp.Entity, corruptPackages bool) *fixture {
	f := &fixture{deb: []byte("!<arch>\nnot really a deb")}
	pkgs := fmt.Sprintf("Package: hello\nVersion: 1.0-1\nArchitecture: amd64\nDepends: libc6 (>= 2.36)\nFilename: pool/main/h/hello/hello_1.0-1_amd64.deb\nSize: %d\nSHA256: %s\n\nPackage: other\nVersion: 1\nArchitecture: arm64\nFilename: x\nSize: 1\nSHA256: 00\n", len(f.deb), hexSum(f.deb))
	var xzBuf bytes.Buffer
	w, _ := xz.NewWriter(&xzBuf)
	io.WriteString(w, pkgs)
	w.Close()
	pkgsXZ := xzBuf.Bytes()
	sum := hexSum(pkgsXZ)
	if corruptPackages {
		sum = strings.Repeat("0", 64)
	}
	rel := fmt.Sprintf("Suite: stable\nCodename: test\nDate: Sat, 01 Jan 2026 00:00:00 UTC\nSHA256:\n %s %d main/binary-amd64/Packages.xz\n", sum, len(pkgsXZ))
	f.inRelease = clearSign(t, signer, rel)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/debian/dists/test/InRelease":
			w.Write(f.inRelease)
		case "/debian/dists/test/main/binary-amd64/Packages.xz":
			w.Write(pkgsXZ)
		case "/debian/pool/main/h/hello/hello_1.0-1_amd64.deb":
			if f.fail500.Add(-1) >= 0 {
				http.Error(w, "busy", 500)
				return
			}
			w.Write(f.deb)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func testClient(t *testing.T, keys openpgp.EntityList) *Client {
	return &Client{HTTP: http.DefaultClient, Keys: keys, CacheDir: t.TempDir(), Log: slog.New(slog.DiscardHandler), Attempts: 3, Backoff: time.Millisecond}
}

func TestIndexAndDeb(t *testing.T) {
	key := newKey(t, "archive")
	f := newFixture(t, key, false)
	c := testClient(t, openpgp.EntityList{key})
	src := &Source{Mirror: f.srv.URL + "/debian", Suite: "test"}
	pkgs, err := c.Index(context.Background(), src, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 1 || pkgs[0].Name != "hello" || pkgs[0].Depends[0][0].Name != "libc6" {
		t.Fatalf("index: %+v", pkgs)
	}
	// Two server errors are retried; the third attempt succeeds.
	f.fail500.Store(2)
	path, err := c.Deb(context.Background(), pkgs[0])
	if err != nil {
		t.Fatal(err)
	}
	// Cached: no request needed even when the server fails.
	f.fail500.Store(100)
	if again, err := c.Deb(context.Background(), pkgs[0]); err != nil || again != path {
		t.Fatalf("cached deb: %v %v", again, err)
	}
	// A checksum the index does not vouch for is refused.
	bad := *pkgs[0]
	bad.SHA256 = strings.Repeat("1", 64)
	f.fail500.Store(0)
	if _, err := c.Deb(context.Background(), &bad); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("bad checksum: %v", err)
	}
	// A missing file names the package and the mirror's URL.
	missing := *pkgs[0]
	missing.Filename = "pool/nope.deb"
	missing.SHA256 = strings.Repeat("2", 64)
	if _, err := c.Deb(context.Background(), &missing); err == nil || !strings.Contains(err.Error(), "hello 1.0-1") || !strings.Contains(err.Error(), f.srv.URL) {
		t.Fatalf("missing deb: %v", err)
	}
}

func TestIndexRefusesBadSignature(t *testing.T) {
	trusted, other := newKey(t, "archive"), newKey(t, "attacker")
	f := newFixture(t, other, false)
	c := testClient(t, openpgp.EntityList{trusted})
	_, err := c.Index(context.Background(), &Source{Mirror: f.srv.URL + "/debian", Suite: "test"}, "amd64")
	if err == nil || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("unknown signer accepted: %v", err)
	}
	// A signed text changed after signing.
	f2 := newFixture(t, trusted, false)
	f2.inRelease = bytes.Replace(f2.inRelease, []byte("Codename: test"), []byte("Codename: tesT"), 1)
	if _, err := c.Index(context.Background(), &Source{Mirror: f2.srv.URL + "/debian", Suite: "test"}, "amd64"); err == nil {
		t.Fatal("tampered InRelease accepted")
	}
}

func TestIndexRefusesBadChecksum(t *testing.T) {
	key := newKey(t, "archive")
	f := newFixture(t, key, true)
	c := testClient(t, openpgp.EntityList{key})
	_, err := c.Index(context.Background(), &Source{Mirror: f.srv.URL + "/debian", Suite: "test"}, "amd64")
	if err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("bad Packages checksum accepted: %v", err)
	}
}

func TestReleaseCheck(t *testing.T) {
	key := newKey(t, "archive")
	text := "Suite: stable-security\nCodename: trixie-security\nValid-Until: Sat, 12 Dec 2026 03:33:30 UTC\nSHA256:\n 00 1 main/binary-amd64/Packages.xz\n"
	rel, err := VerifyRelease(clearSign(t, key, text), openpgp.EntityList{key})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	if err := rel.Check("trixie-security", before); err != nil {
		t.Errorf("valid release refused: %v", err)
	}
	if err := rel.Check("bookworm-security", before); err == nil {
		t.Error("another suite's release accepted")
	}
	if err := rel.Check("trixie-security", before.AddDate(0, 0, 6)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired release: %v", err)
	}
}
