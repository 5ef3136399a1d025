package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"
)

// oidcProvider is an OpenID Connect provider on loopback whose signing
// keys the test rotates.
type oidcProvider struct {
	srv  *httptest.Server
	mu   sync.Mutex
	keys map[string]*rsa.PrivateKey
}

func newOIDCProvider(t *testing.T, keys map[string]*rsa.PrivateKey) *oidcProvider {
	t.Helper()
	p := &oidcProvider{keys: keys}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": p.srv.URL, "jwks_uri": p.srv.URL + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		set := []map[string]string{}
		for kid, k := range p.keys {
			set = append(set, map[string]string{
				"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
				"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
				"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
			})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": set})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *oidcProvider) rotate(keys map[string]*rsa.PrivateKey) {
	p.mu.Lock()
	p.keys = keys
	p.mu.Unlock()
}

// token returns an RS256 token from p for role, signed with key under kid.
func (p *oidcProvider) token(t *testing.T, key *rsa.PrivateKey, kid string, edits jwtlib.MapClaims) string {
	t.Helper()
	claims := jwtlib.MapClaims{
		"iss": p.srv.URL, "aud": "ksplugins", "sub": "ada", "role": "operator",
		"exp": time.Now().Add(time.Hour).Unix(),
	}
	for k, v := range edits {
		claims[k] = v
	}
	tok := jwtlib.NewWithClaims(jwtlib.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOIDCKeyRotation configures a real server with an OIDC issuer and
// runs the provider through a key rotation: tokens signed with the current
// key are accepted, then, after the provider replaces it, tokens signed
// with the new key are accepted and those signed with the removed one
// refused, as are tokens from another issuer and HS256 tokens.
func TestOIDCKeyRotation(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	oldKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	newKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := newOIDCProvider(t, map[string]*rsa.PrivateKey{"old": oldKey})

	r := s.api("PUT", "/api/plugins/system/configuration", map[string]any{
		"jwt": map[string]any{"oidc_issuer": p.srv.URL, "audience": "ksplugins"},
	})
	want(t, "configure oidc_issuer", r, 200, "")

	whoami := func(bearer string) reply {
		t.Helper()
		req, err := http.NewRequest("GET", s.url+"/api/plugins/whoami", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+bearer)
		return s.send(req)
	}
	accepted := func(what, bearer string) {
		t.Helper()
		r := whoami(bearer)
		if r.status != 200 || r.body["role"] != "operator" || r.body["via"] != "jwt" || r.body["name"] != "ada" {
			t.Fatalf("%s: got %s; want 200 as operator ada via jwt", what, r)
		}
	}
	refused := func(what, bearer string) {
		t.Helper()
		want(t, what, whoami(bearer), 401, "")
	}

	accepted("token signed with the current key", p.token(t, oldKey, "old", nil))
	refused("token from another issuer", p.token(t, oldKey, "old", jwtlib.MapClaims{"iss": "https://evil.example"}))
	refused("token for another audience", p.token(t, oldKey, "old", jwtlib.MapClaims{"aud": "other"}))
	refused("expired token", p.token(t, oldKey, "old", jwtlib.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()}))

	hs := jwtlib.NewWithClaims(jwtlib.SigningMethodHS256, jwtlib.MapClaims{
		"iss": p.srv.URL, "aud": "ksplugins", "sub": "mallory", "role": "admin", "exp": time.Now().Add(time.Hour).Unix(),
	})
	hsToken, err := hs.SignedString([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	refused("HS256 token where RS256 keys are configured", hsToken)

	p.rotate(map[string]*rsa.PrivateKey{"new": newKey})
	accepted("token signed with the new key after rotation", p.token(t, newKey, "new", nil))
	refused("token signed with the removed key", p.token(t, oldKey, "old", nil))
}
