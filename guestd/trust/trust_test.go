package trust

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func caPEM(t *testing.T, name string) ([]byte, string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), hex.EncodeToString(sum[:])
}

func TestInstallKeepsDebiansBundleAndAddsTheHosts(t *testing.T) {
	dir := t.TempDir()
	debian, debianFP := caPEM(t, "Debian Root")
	st := Store{Bundle: filepath.Join(dir, "ca-certificates.crt"), Base: filepath.Join(dir, "run", "debian.crt")}
	os.WriteFile(st.Bundle, debian, 0o644)

	fps, err := st.Fingerprints()
	if err != nil || len(fps) != 1 || fps[0] != debianFP {
		t.Fatalf("fingerprints %v, %v", fps, err)
	}
	corp, _ := caPEM(t, "Corp CA")
	bad := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")})
	n, err := st.Install(append(bad, corp...))
	if n != 1 || err == nil || !strings.Contains(err.Error(), "host certificate 1") {
		t.Fatalf("installed %d, %v", n, err)
	}
	got, _ := os.ReadFile(st.Bundle)
	if !bytes.Equal(got, append(append([]byte{}, debian...), corp...)) {
		t.Errorf("bundle is not Debian's followed by the host's:\n%s", got)
	}
	// The next start replaces the host's part, not adds to it, and the
	// fingerprints stay Debian's.
	other, _ := caPEM(t, "Other CA")
	if n, err := st.Install(other); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	got, _ = os.ReadFile(st.Bundle)
	if !bytes.Equal(got, append(append([]byte{}, debian...), other...)) {
		t.Errorf("second install:\n%s", got)
	}
	if fps, _ := st.Fingerprints(); len(fps) != 1 {
		t.Errorf("fingerprints after install: %d, want Debian's 1", len(fps))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(got) {
		t.Error("the bundle does not load")
	}
}

func TestFetchSendsFingerprints(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || string(b) != "aa\nbb" {
			http.Error(w, "bad request", 400)
			return
		}
		io.WriteString(w, "PEM")
	}))
	defer srv.Close()
	got, err := Fetch(context.Background(), srv.Client(), srv.URL, []string{"aa", "bb"})
	if err != nil || string(got) != "PEM" {
		t.Fatalf("%q, %v", got, err)
	}
	if _, err := Fetch(context.Background(), srv.Client(), srv.URL, nil); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("err = %v, want the status", err)
	}
}
