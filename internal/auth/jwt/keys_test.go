package jwt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestLoadRSAPublicKeyPEM(t *testing.T) {
	key := newRSAKey(t)
	pkixDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "ui.kubestellar.example"},
		NotBefore:    time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), // long expired: only the key matters
	}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallDER, err := x509.MarshalPKIXPublicKey(&small.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		data    []byte
		wantErr string // empty: want key
	}{
		{name: "PKIX", data: pemBlock("PUBLIC KEY", pkixDER)},
		{name: "PKCS1", data: pemBlock("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&key.PublicKey))},
		{name: "certificate", data: pemBlock("CERTIFICATE", certDER)},
		{name: "after other blocks and text", data: append([]byte("issuer key follows\n"), append(pemBlock("EC PARAMETERS", []byte{6, 8, 42}), pemBlock("PUBLIC KEY", pkixDER)...)...)},
		{name: "empty", data: nil, wantErr: "no PUBLIC KEY"},
		{name: "not PEM", data: []byte("ssh-rsa AAAA..."), wantErr: "no PUBLIC KEY"},
		{name: "private key only", data: pemBlock("PRIVATE KEY", privDER), wantErr: "no PUBLIC KEY"},
		{name: "EC key", data: pemBlock("PUBLIC KEY", ecDER), wantErr: "not an RSA key"},
		{name: "small key", data: pemBlock("PUBLIC KEY", smallDER), wantErr: "too small"},
		{name: "garbage DER", data: pemBlock("PUBLIC KEY", []byte("junk")), wantErr: "parse PUBLIC KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadRSAPublicKeyPEM(tt.data)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(&key.PublicKey) {
				t.Fatal("loaded a different key")
			}
			// The loaded key verifies RS256 tokens end to end.
			tok := mustRS(t, claims(nil), key, "")
			cfg := Config{RSAKeys: map[string]*rsa.PublicKey{"": got}, Now: testNow}
			if c, err := Verify(t.Context(), tok, cfg); err != nil || c.Role != RoleOperator {
				t.Fatalf("Verify with loaded key: %+v, %v", c, err)
			}
		})
	}
}

// jwkOf renders pub as a JWK object with the given extra members.
func jwkOf(pub *rsa.PublicKey, members map[string]any) map[string]any {
	enc := base64.RawURLEncoding
	k := map[string]any{
		"kty": "RSA",
		"n":   enc.EncodeToString(pub.N.Bytes()),
		"e":   enc.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}
	for name, v := range members {
		if v == nil {
			delete(k, name)
		} else {
			k[name] = v
		}
	}
	return k
}

func jwks(t *testing.T, keys ...map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadJWKS(t *testing.T) {
	k1, k2, k3 := newRSAKey(t), newRSAKey(t), newRSAKey(t)
	ec := map[string]any{"kty": "EC", "crv": "P-256", "kid": "ec", "x": "AA", "y": "AA"}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("mixed document", func(t *testing.T) {
		doc := jwks(t,
			jwkOf(&k1.PublicKey, map[string]any{"kid": "k1", "use": "sig", "alg": "RS256"}),
			jwkOf(&k2.PublicKey, map[string]any{"kid": "k2"}),
			jwkOf(&k3.PublicKey, map[string]any{"alg": "RS256", "n": base64.URLEncoding.EncodeToString(k3.N.Bytes())}), // padded n, no kid
			jwkOf(&k1.PublicKey, map[string]any{"kid": "enc", "use": "enc"}),
			jwkOf(&k1.PublicKey, map[string]any{"kid": "ps", "alg": "PS256"}),
			ec,
		)
		keys, err := LoadJWKS(doc)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 3 || !keys["k1"].Equal(&k1.PublicKey) || !keys["k2"].Equal(&k2.PublicKey) || !keys[""].Equal(&k3.PublicKey) {
			t.Fatalf("keys = %v", keys)
		}
		cfg := Config{RSAKeys: keys, Now: testNow}
		for _, tc := range []struct {
			key  *rsa.PrivateKey
			kid  string
			want string
		}{
			{k1, "k1", ""},
			{k2, "k2", ""},
			{k3, "", ""},
			{k1, "k2", ReasonBadSignature},
			{k1, "enc", ReasonUnknownKid},
			{k1, "ps", ReasonUnknownKid},
		} {
			_, err := Verify(t.Context(), mustRS(t, claims(nil), tc.key, tc.kid), cfg)
			if got := reasonOf(err); got != tc.want {
				t.Errorf("kid %q: reason %q, want %q", tc.kid, got, tc.want)
			}
		}
	})

	for _, tt := range []struct {
		name    string
		doc     []byte
		wantErr string
	}{
		{name: "not JSON", doc: []byte("<html>"), wantErr: "parse JWKS"},
		{name: "no keys member", doc: []byte(`{}`), wantErr: "no RS256 signing key"},
		{name: "only EC keys", doc: jwks(t, ec), wantErr: "no RS256 signing key"},
		{name: "duplicate kid", doc: jwks(t, jwkOf(&k1.PublicKey, map[string]any{"kid": "a"}), jwkOf(&k2.PublicKey, map[string]any{"kid": "a"})), wantErr: "more than one"},
		{name: "two keys without kid", doc: jwks(t, jwkOf(&k1.PublicKey, nil), jwkOf(&k2.PublicKey, nil)), wantErr: "more than one"},
		{name: "bad n", doc: jwks(t, jwkOf(&k1.PublicKey, map[string]any{"n": "not*base64"})), wantErr: "modulus"},
		{name: "missing e", doc: jwks(t, jwkOf(&k1.PublicKey, map[string]any{"e": nil})), wantErr: "exponent"},
		{name: "even e", doc: jwks(t, jwkOf(&k1.PublicKey, map[string]any{"e": "AQAA"})), wantErr: "exponent"},
		{name: "huge e", doc: jwks(t, jwkOf(&k1.PublicKey, map[string]any{"e": "AQAAAAAAAAAAAQ"})), wantErr: "too large"},
		{name: "small key", doc: jwks(t, jwkOf(&small.PublicKey, map[string]any{"kid": "s"})), wantErr: "too small"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := LoadJWKS(tt.doc)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("LoadJWKS = %v, %v; want error containing %q", keys, err, tt.wantErr)
			}
		})
	}
}
