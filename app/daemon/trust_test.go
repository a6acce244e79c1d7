package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/guestd/protocol"
	"github.com/berthvm/berth/netproxy/hostca"
)

type caSource []*x509.Certificate

func (caSource) Name() string                                        { return "test store" }
func (s caSource) Read(context.Context) ([]*x509.Certificate, error) { return s, nil }

func testCA(t *testing.T, name string) *x509.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

// The guest gets what its bundle lacks; status counts it.
func TestTrustHandlerCarriesWhatTheGuestLacks(t *testing.T) {
	public, corp := testCA(t, "Public Root"), testCA(t, "Corp CA")
	d := &Daemon{o: Options{Log: slog.New(slog.DiscardHandler)}}
	var got control.CAs
	h := d.trustHandler(func() []hostca.Source { return []hostca.Source{caSource{public, corp}} }, func(c control.CAs) { got = c })
	req := httptest.NewRequest(http.MethodPost, protocol.TrustPath, strings.NewReader(strings.ToUpper(hostca.Fingerprint(public.Raw))+"\n"))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	certs, err := hostca.ParsePEM(rec.Body.Bytes())
	if rec.Code != 200 || err != nil || len(certs) != 1 || certs[0].Subject.CommonName != "Corp CA" {
		t.Fatalf("%d: %d certs (%v)", rec.Code, len(certs), err)
	}
	if got.Carried != 1 || len(got.From) != 1 || got.From[0] != "test store" {
		t.Errorf("recorded %+v", got)
	}
}

func TestWithHostCAs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"Image":"x"}`, `{"HostConfig":{"Binds":["/etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro"]},"Image":"x"}`},
		{`{"Image":"x","HostConfig":{"Binds":["/home/me:/src"],"Memory":5}}`,
			`{"HostConfig":{"Binds":["/home/me:/src","/etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro"],"Memory":5},"Image":"x"}`},
		// The container's own CAs win.
		{`{"HostConfig":{"Binds":["/mine:/etc/ssl/certs:ro"]}}`, `{"HostConfig":{"Binds":["/mine:/etc/ssl/certs:ro"]}}`},
		{`{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/a","Target":"/etc/ssl/certs/ca-certificates.crt"}]}}`,
			`{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/a","Target":"/etc/ssl/certs/ca-certificates.crt"}]}}`},
	} {
		got, err := withHostCAs([]byte(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("%s:\n got %s, %v\nwant %s", tc.in, got, err, tc.want)
		}
	}
	if _, err := withHostCAs([]byte(`{"HostConfig":{"Binds":"nope"}}`)); err == nil {
		t.Error("a malformed request passed")
	}
}
