package hostca

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newCert makes a certificate: a CA signed by itself when parent is nil,
// else a leaf signed by parent.
func newCert(t *testing.T, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		BasicConstraintsValid: true, IsCA: parent == nil, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	signer, signKey := tmpl, key
	if parent != nil {
		signer, signKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

// source is a fixed list of certificates.
type source struct {
	name  string
	certs []*x509.Certificate
	err   error
}

func (s source) Name() string                                      { return s.name }
func (s source) Read(context.Context) ([]*x509.Certificate, error) { return s.certs, s.err }

// What `security find-certificate -a -p` prints: PEM blocks one after the
// other (real roots here), with a leaf among them.
func TestParseKeychainOutputKeepsCAsOnly(t *testing.T) {
	roots, err := os.ReadFile("testdata/keychain-roots.pem")
	if err != nil {
		t.Fatal(err)
	}
	ca, key := newCert(t, "Corp CA", nil, nil)
	leaf, _ := newCert(t, "me@corp", ca, key)
	out := append(append(roots, EncodePEM([]*x509.Certificate{leaf})...), EncodePEM([]*x509.Certificate{ca})...)
	certs, err := ParsePEM(out)
	if err != nil || len(certs) != 4 {
		t.Fatalf("parsed %d certificates, %v; want 4", len(certs), err)
	}
	b := Load(context.Background(), []Source{source{name: "login", certs: certs}}, slog.New(slog.DiscardHandler))
	if len(b.Certs) != 3 {
		t.Errorf("kept %d, want the 3 CAs", len(b.Certs))
	}
	for _, c := range b.Certs {
		if c.Subject.CommonName == "me@corp" {
			t.Error("the leaf was kept")
		}
	}
}

// A block that does not parse is named; the others are kept.
func TestBadCertificateIsSkippedAndNamed(t *testing.T) {
	ca, _ := newCert(t, "Corp CA", nil, nil)
	bad := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")})
	key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("x")})
	certs, err := ParsePEM(append(append(bad, key...), EncodePEM([]*x509.Certificate{ca})...))
	if len(certs) != 1 || err == nil || !strings.Contains(err.Error(), "certificate 1") {
		t.Fatalf("got %d certs, err %v", len(certs), err)
	}

	dir := t.TempDir()
	f := filepath.Join(dir, "bundle.crt")
	os.WriteFile(f, append(bad, EncodePEM([]*x509.Certificate{ca})...), 0o644)
	var log bytes.Buffer
	b := Load(context.Background(), []Source{File(f), File(filepath.Join(dir, "missing.crt"))}, slog.New(slog.NewTextHandler(&log, nil)))
	if len(b.Certs) != 1 || len(b.From) != 1 || b.From[0] != f {
		t.Errorf("got %d certs from %v", len(b.Certs), b.From)
	}
	if !strings.Contains(log.String(), "bundle.crt") || !strings.Contains(log.String(), "missing.crt") {
		t.Errorf("log does not name both bad sources: %s", log.String())
	}
}

// Windows gives DER blobs; a broken one does not lose the rest.
func TestParseDER(t *testing.T) {
	ca, _ := newCert(t, "Root", nil, nil)
	certs, err := ParseDER([][]byte{ca.Raw, {0x30, 0x00}})
	if len(certs) != 1 || err == nil || !strings.Contains(err.Error(), "certificate 2") {
		t.Fatalf("got %d, %v", len(certs), err)
	}
}

// Only what the guest's bundle lacks is carried, by fingerprint; a CA in
// two sources counts once.
func TestMissing(t *testing.T) {
	debian, _ := newCert(t, "Public Root", nil, nil)
	corp, _ := newCert(t, "Corp CA", nil, nil)
	b := Load(context.Background(), []Source{
		source{name: "System", certs: []*x509.Certificate{debian, corp}},
		source{name: "login", certs: []*x509.Certificate{corp}},
	}, slog.New(slog.DiscardHandler))
	if len(b.Certs) != 2 || len(b.From) != 1 {
		t.Fatalf("got %d certs from %v", len(b.Certs), b.From)
	}
	got := Missing(b.Certs, map[string]bool{Fingerprint(debian.Raw): true})
	if len(got) != 1 || got[0].Subject.CommonName != "Corp CA" {
		t.Errorf("missing = %v", got)
	}
}

func TestLinuxBundlePrefersSSLCertFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "mine.pem")
	os.WriteFile(f, nil, 0o644)
	srcs := LinuxBundle(func(k string) string {
		if k == "SSL_CERT_FILE" {
			return f
		}
		return ""
	})
	if len(srcs) != 1 || srcs[0].Name() != f {
		t.Errorf("sources %v, want %s", srcs, f)
	}
}
