package jwt

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// provider is an OpenID Connect provider on loopback: a discovery document
// and a JWKS whose keys the test rotates.
type provider struct {
	t   *testing.T
	srv *httptest.Server
	// issuer is what the discovery document says; normally srv.URL.
	issuer string

	mu   sync.Mutex
	keys map[string]*rsa.PrivateKey

	discoveryHits atomic.Int32
	jwksHits      atomic.Int32
}

func newProvider(t *testing.T, keys map[string]*rsa.PrivateKey) *provider {
	t.Helper()
	p := &provider{t: t, keys: keys}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		p.discoveryHits.Add(1)
		p.mu.Lock()
		iss := p.issuer
		p.mu.Unlock()
		writeJSON(w, map[string]any{"issuer": iss, "jwks_uri": p.srv.URL + "/keys"})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		p.jwksHits.Add(1)
		p.mu.Lock()
		var set []map[string]any
		for kid, k := range p.keys {
			set = append(set, jwkOf(&k.PublicKey, map[string]any{"kid": kid, "use": "sig", "alg": "RS256"}))
		}
		p.mu.Unlock()
		writeJSON(w, map[string]any{"keys": set})
	})
	p.srv = httptest.NewServer(mux) // listens on 127.0.0.1
	p.issuer = p.srv.URL
	t.Cleanup(p.srv.Close)
	return p
}

// rotate replaces the provider's keys.
func (p *provider) rotate(keys map[string]*rsa.PrivateKey) {
	p.mu.Lock()
	p.keys = keys
	p.mu.Unlock()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// oidcConfig returns a Config that takes its keys from p's discovery
// document, as auth.LoadJWT builds it for oidc_issuer.
func oidcConfig(t *testing.T, p *provider, o RemoteOptions) Config {
	t.Helper()
	o.Issuer = p.srv.URL
	o.Logger = slog.New(slog.DiscardHandler)
	keys, err := NewRemoteKeys(o)
	if err != nil {
		t.Fatal(err)
	}
	return Config{Keys: keys, Issuer: p.srv.URL, Audience: "ksplugins", Now: testNow}
}

// TestOIDCKeyRotation runs a provider through a key rotation: a token
// signed with the new key is accepted once the unknown kid makes the keys
// be fetched again, and one signed with the removed key is refused.
func TestOIDCKeyRotation(t *testing.T) {
	oldKey, newKey := newRSAKey(t), newRSAKey(t)
	p := newProvider(t, map[string]*rsa.PrivateKey{"old": oldKey})
	cfg := oidcConfig(t, p, RemoteOptions{MinFetchInterval: time.Nanosecond})
	iss := map[string]any{"iss": p.srv.URL}

	if c, err := Verify(t.Context(), mustRS(t, claims(iss), oldKey, "old"), cfg); err != nil || c.Role != RoleOperator {
		t.Fatalf("token signed with the current key: %+v, %v", c, err)
	}
	if d, j := p.discoveryHits.Load(), p.jwksHits.Load(); d != 1 || j != 1 {
		t.Fatalf("first token: %d discovery and %d JWKS fetches, want 1 and 1", d, j)
	}

	p.rotate(map[string]*rsa.PrivateKey{"new": newKey})
	if c, err := Verify(t.Context(), mustRS(t, claims(iss), newKey, "new"), cfg); err != nil || c.Role != RoleOperator {
		t.Fatalf("token signed with the new key after rotation: %+v, %v", c, err)
	}
	if j := p.jwksHits.Load(); j != 2 {
		t.Fatalf("after rotation: %d JWKS fetches, want 2", j)
	}
	if _, err := Verify(t.Context(), mustRS(t, claims(iss), oldKey, "old"), cfg); reasonOf(err) != ReasonUnknownKid {
		t.Fatalf("token signed with the removed key: %v, want %s", err, ReasonUnknownKid)
	}
	// Naming the new kid does not help a token signed with the removed
	// key: the kid selects the key, and the signature must match it.
	if _, err := Verify(t.Context(), mustRS(t, claims(iss), oldKey, "new"), cfg); reasonOf(err) != ReasonBadSignature {
		t.Fatalf("old key under the new kid: %v, want %s", err, ReasonBadSignature)
	}
}

// TestOIDCRefusals checks the claim and algorithm rules with keys from a
// provider.
func TestOIDCRefusals(t *testing.T) {
	key := newRSAKey(t)
	p := newProvider(t, map[string]*rsa.PrivateKey{"k1": key})
	cfg := oidcConfig(t, p, RemoteOptions{})
	iss := p.srv.URL
	at := func(d time.Duration) int64 { return testNow().Add(d).Unix() }

	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	payload, err := json.Marshal(claims(map[string]any{"iss": iss, "role": "admin"}))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, token, want string
	}{
		{"accepted", mustRS(t, claims(map[string]any{"iss": iss}), key, "k1"), ""},
		{"HS256 where RS256 keys are configured", mustHS(t, claims(map[string]any{"iss": iss}), []byte(strings.Repeat("s", 32))), ReasonUnsupportedAlg},
		{"HS256 keyed with the provider's public key", rawToken(`{"alg":"HS256","kid":"k1"}`, string(payload), pubPEM), ReasonUnsupportedAlg},
		{"alg none", rawToken(`{"alg":"none","kid":"k1"}`, string(payload), nil), ReasonUnsupportedAlg},
		{"wrong issuer", mustRS(t, claims(map[string]any{"iss": "https://evil.example"}), key, "k1"), ReasonWrongIssuer},
		{"issuer missing", mustRS(t, claims(map[string]any{"iss": nil}), key, "k1"), ReasonWrongIssuer},
		{"wrong audience", mustRS(t, claims(map[string]any{"iss": iss, "aud": "someone-else"}), key, "k1"), ReasonWrongAudience},
		{"expired", mustRS(t, claims(map[string]any{"iss": iss, "exp": at(-time.Hour)}), key, "k1"), ReasonExpired},
		{"not yet valid", mustRS(t, claims(map[string]any{"iss": iss, "nbf": at(time.Hour)}), key, "k1"), ReasonNotYetValid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(t.Context(), tt.token, cfg)
			if got := reasonOf(err); got != tt.want {
				t.Fatalf("Verify error %v (reason %q), want reason %q", err, got, tt.want)
			}
		})
	}
}

// TestUnknownKidRateLimit checks that a flood of tokens naming unknown kids
// costs the provider one fetch per MinFetchInterval, not one per token.
func TestUnknownKidRateLimit(t *testing.T) {
	key := newRSAKey(t)
	p := newProvider(t, map[string]*rsa.PrivateKey{"k1": key})
	cfg := oidcConfig(t, p, RemoteOptions{MinFetchInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	iss := map[string]any{"iss": p.srv.URL}
	if _, err := Verify(t.Context(), mustRS(t, claims(iss), key, "k1"), cfg); err != nil {
		t.Fatal(err)
	}
	forged := mustRS(t, claims(iss), key, "made-up")
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := Verify(t.Context(), forged, cfg); reasonOf(err) != ReasonUnknownKid {
				t.Errorf("unknown kid: %v, want %s", err, ReasonUnknownKid)
			}
		})
	}
	wg.Wait()
	if j := p.jwksHits.Load(); j != 1 {
		t.Fatalf("%d JWKS fetches for 50 unknown kids within MinFetchInterval, want 1", j)
	}
}

// TestRemoteKeysRun checks that Run refreshes on its timer, so a key the
// provider removes stops being trusted without any unknown kid, and that
// it returns when its context ends.
func TestRemoteKeysRun(t *testing.T) {
	oldKey, newKey := newRSAKey(t), newRSAKey(t)
	p := newProvider(t, map[string]*rsa.PrivateKey{"old": oldKey})
	keys, err := NewRemoteKeys(RemoteOptions{JWKSURL: p.srv.URL + "/keys", RefreshInterval: 5 * time.Millisecond, MinFetchInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Keys: keys, Now: testNow}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { keys.Run(ctx); close(done) }()

	waitFor(t, func() bool { return keys.lookup("old") != nil })
	if _, err := Verify(t.Context(), mustRS(t, claims(nil), oldKey, "old"), cfg); err != nil {
		t.Fatalf("current key: %v", err)
	}
	p.rotate(map[string]*rsa.PrivateKey{"new": newKey})
	waitFor(t, func() bool { return keys.lookup("old") == nil })
	if _, err := Verify(t.Context(), mustRS(t, claims(nil), oldKey, "old"), cfg); reasonOf(err) != ReasonUnknownKid {
		t.Fatalf("removed key after a timed refresh: %v, want %s", err, ReasonUnknownKid)
	}
	if _, err := Verify(t.Context(), mustRS(t, claims(nil), newKey, "new"), cfg); err != nil {
		t.Fatalf("new key after a timed refresh: %v", err)
	}
	if d := p.discoveryHits.Load(); d != 0 {
		t.Errorf("a JWKS URL was configured, yet discovery was fetched %d times", d)
	}

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// waitFor polls cond until it holds, failing the test after a few seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestDiscoveryRefusals checks that keys are not taken from a discovery
// document that speaks for another issuer or points at plain http off
// loopback.
func TestDiscoveryRefusals(t *testing.T) {
	key := newRSAKey(t)
	t.Run("issuer mismatch", func(t *testing.T) {
		p := newProvider(t, map[string]*rsa.PrivateKey{"k1": key})
		p.mu.Lock()
		p.issuer = "https://evil.example"
		p.mu.Unlock()
		cfg := oidcConfig(t, p, RemoteOptions{})
		if err := cfg.Keys.Refresh(t.Context()); err == nil || !strings.Contains(err.Error(), "evil.example") {
			t.Fatalf("Refresh = %v, want an issuer mismatch", err)
		}
		tok := mustRS(t, claims(map[string]any{"iss": p.srv.URL}), key, "k1")
		if _, err := Verify(t.Context(), tok, cfg); reasonOf(err) != ReasonUnknownKid {
			t.Fatalf("Verify = %v, want %s", err, ReasonUnknownKid)
		}
		if j := p.jwksHits.Load(); j != 0 {
			t.Fatalf("JWKS fetched %d times from a mismatched discovery document", j)
		}
	})
	t.Run("provider down", func(t *testing.T) {
		p := newProvider(t, map[string]*rsa.PrivateKey{"k1": key})
		cfg := oidcConfig(t, p, RemoteOptions{})
		p.srv.Close()
		tok := mustRS(t, claims(map[string]any{"iss": p.srv.URL}), key, "k1")
		if _, err := Verify(t.Context(), tok, cfg); reasonOf(err) != ReasonUnknownKid {
			t.Fatalf("Verify = %v, want %s", err, ReasonUnknownKid)
		}
	})
}

func TestNewRemoteKeys(t *testing.T) {
	tests := []struct {
		name    string
		opts    RemoteOptions
		wantErr string // empty: accepted
	}{
		{"https JWKS", RemoteOptions{JWKSURL: "https://login.example/keys"}, ""},
		{"https issuer", RemoteOptions{Issuer: "https://login.example/realms/ks"}, ""},
		{"http on 127.0.0.1", RemoteOptions{JWKSURL: "http://127.0.0.1:8080/keys"}, ""},
		{"http on ::1", RemoteOptions{Issuer: "http://[::1]:8080"}, ""},
		{"http on localhost", RemoteOptions{Issuer: "http://localhost:8080"}, ""},
		{"http off loopback", RemoteOptions{JWKSURL: "http://login.example/keys"}, "loopback"},
		{"http on a look-alike name", RemoteOptions{Issuer: "http://127.0.0.1.evil.example"}, "loopback"},
		{"other scheme", RemoteOptions{JWKSURL: "file:///etc/keys.json"}, "scheme"},
		{"relative", RemoteOptions{JWKSURL: "/keys"}, "scheme"},
		{"no host", RemoteOptions{JWKSURL: "https:///keys"}, "absolute"},
		{"user info", RemoteOptions{JWKSURL: "https://u:p@login.example/keys"}, "user information"},
		{"neither", RemoteOptions{}, "exactly one"},
		{"both", RemoteOptions{JWKSURL: "https://a.example/k", Issuer: "https://a.example"}, "exactly one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRemoteKeys(tt.opts)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("NewRemoteKeys: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewRemoteKeys = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}
