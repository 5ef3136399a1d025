package jwt

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testNow is the fixed instant the tests verify at.
func testNow() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC) }

func newRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// claims returns a payload Verify accepts at testNow, changed by edits;
// an edit with a nil value deletes the claim.
func claims(edits map[string]any) map[string]any {
	now := testNow()
	c := map[string]any{
		"sub":  "alice",
		"role": "operator",
		"iss":  "https://ui.kubestellar.example",
		"aud":  "ksplugins",
		"iat":  now.Add(-time.Minute).Unix(),
		"nbf":  now.Add(-time.Minute).Unix(),
		"exp":  now.Add(time.Hour).Unix(),
	}
	for k, v := range edits {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func mustHS(t testing.TB, c map[string]any, secret []byte) string {
	t.Helper()
	tok, err := SignHS256(c, secret)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func mustRS(t testing.TB, c map[string]any, key *rsa.PrivateKey, kid string) string {
	t.Helper()
	tok, err := SignRS256(c, key, kid)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// rawToken assembles a token from a literal header and payload, signed
// with secret under HS256 whatever the header says (or unsigned if secret
// is nil), for shapes the Sign functions cannot produce.
func rawToken(hdr, payload string, secret []byte) string {
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(hdr)) + "." + enc.EncodeToString([]byte(payload))
	if secret == nil {
		return signed + "."
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(mac.Sum(nil))
}

func reasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	if err != nil {
		return "non-*Error: " + err.Error()
	}
	return ""
}

func TestVerify(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	key := newRSAKey(t)
	other := newRSAKey(t)
	hs := Config{HS256Secret: secret, Now: testNow}
	rs := Config{RSAKeys: map[string]*rsa.PublicKey{"k1": &key.PublicKey, "": &other.PublicKey}, Now: testNow}
	strict := Config{
		HS256Secret: secret,
		Issuer:      "https://ui.kubestellar.example",
		Audience:    "ksplugins",
		Now:         testNow,
	}
	now := testNow()
	at := func(d time.Duration) int64 { return now.Add(d).Unix() }
	withCfg := func(c Config, f func(*Config)) Config { f(&c); return c }

	valid := mustHS(t, claims(nil), secret)
	parts := strings.Split(valid, ".")
	enc := base64.RawURLEncoding
	adminPayload := enc.EncodeToString([]byte(`{"sub":"alice","role":"admin","exp":` + itoa(at(time.Hour)) + `}`))

	tests := []struct {
		name     string
		token    string
		cfg      Config
		wantRole string // empty: want an error
		wantErr  string
	}{
		// Accepted.
		{name: "HS256", token: valid, cfg: strict, wantRole: "operator"},
		{name: "RS256 by kid", token: mustRS(t, claims(nil), key, "k1"), cfg: rs, wantRole: "operator"},
		{name: "RS256 without kid uses empty kid", token: mustRS(t, claims(nil), other, ""), cfg: rs, wantRole: "operator"},
		{name: "HS256 and RSA both configured", token: valid, cfg: withCfg(rs, func(c *Config) { c.HS256Secret = secret }), wantRole: "operator"},
		{name: "no optional claims", token: mustHS(t, map[string]any{"role": "viewer", "exp": at(time.Minute)}, secret), cfg: hs, wantRole: "viewer"},
		{name: "fractional exp", token: mustHS(t, claims(map[string]any{"exp": float64(at(time.Hour)) + 0.5}), secret), cfg: hs, wantRole: "operator"},

		// Roles.
		{name: "role array highest wins", token: mustHS(t, claims(map[string]any{"role": []string{"viewer", "admin", "operator"}}), secret), cfg: hs, wantRole: "admin"},
		{name: "role array ignores unknown", token: mustHS(t, claims(map[string]any{"role": []any{"devs", 7, "operator"}}), secret), cfg: hs, wantRole: "operator"},
		{name: "role array of unknowns", token: mustHS(t, claims(map[string]any{"role": []string{"devs", "Admin"}}), secret), cfg: hs, wantErr: ReasonUnknownRole},
		{name: "empty role array", token: mustHS(t, claims(map[string]any{"role": []string{}}), secret), cfg: hs, wantErr: ReasonMissingRole},
		{name: "missing role", token: mustHS(t, claims(map[string]any{"role": nil}), secret), cfg: hs, wantErr: ReasonMissingRole},
		{name: "null role", token: rawToken(`{"alg":"HS256"}`, `{"role":null,"exp":`+itoa(at(time.Hour))+`}`, secret), cfg: hs, wantErr: ReasonMissingRole},
		{name: "unknown role", token: mustHS(t, claims(map[string]any{"role": "root"}), secret), cfg: hs, wantErr: ReasonUnknownRole},
		{name: "role is case sensitive", token: mustHS(t, claims(map[string]any{"role": "Admin"}), secret), cfg: hs, wantErr: ReasonUnknownRole},
		{name: "role of wrong type", token: mustHS(t, claims(map[string]any{"role": 3}), secret), cfg: hs, wantErr: ReasonUnknownRole},
		{name: "custom role claim", token: mustHS(t, claims(map[string]any{"role": nil, "ksp_roles": []string{"viewer"}}), secret), cfg: withCfg(hs, func(c *Config) { c.RoleClaim = "ksp_roles" }), wantRole: "viewer"},
		{name: "custom role claim ignores role", token: valid, cfg: withCfg(hs, func(c *Config) { c.RoleClaim = "ksp_roles" }), wantErr: ReasonMissingRole},

		// Audience and issuer.
		{name: "audience in array", token: mustHS(t, claims(map[string]any{"aud": []string{"other", "ksplugins"}}), secret), cfg: strict, wantRole: "operator"},
		{name: "audience not in array", token: mustHS(t, claims(map[string]any{"aud": []string{"other"}}), secret), cfg: strict, wantErr: ReasonWrongAudience},
		{name: "wrong audience", token: mustHS(t, claims(map[string]any{"aud": "other"}), secret), cfg: strict, wantErr: ReasonWrongAudience},
		{name: "missing audience", token: mustHS(t, claims(map[string]any{"aud": nil}), secret), cfg: strict, wantErr: ReasonWrongAudience},
		{name: "audience not checked unless configured", token: mustHS(t, claims(map[string]any{"aud": 5}), secret), cfg: hs, wantRole: "operator"},
		{name: "wrong issuer", token: mustHS(t, claims(map[string]any{"iss": "https://evil.example"}), secret), cfg: strict, wantErr: ReasonWrongIssuer},
		{name: "missing issuer", token: mustHS(t, claims(map[string]any{"iss": nil}), secret), cfg: strict, wantErr: ReasonWrongIssuer},

		// Time and leeway.
		{name: "expired", token: mustHS(t, claims(map[string]any{"exp": at(-time.Hour)}), secret), cfg: hs, wantErr: ReasonExpired},
		{name: "expired within leeway", token: mustHS(t, claims(map[string]any{"exp": at(-29 * time.Second)}), secret), cfg: hs, wantRole: "operator"},
		{name: "expired exactly at leeway", token: mustHS(t, claims(map[string]any{"exp": at(-30 * time.Second)}), secret), cfg: hs, wantErr: ReasonExpired},
		{name: "custom leeway", token: mustHS(t, claims(map[string]any{"exp": at(-2 * time.Minute)}), secret), cfg: withCfg(hs, func(c *Config) { c.Leeway = 3 * time.Minute }), wantRole: "operator"},
		{name: "negative leeway means none", token: mustHS(t, claims(map[string]any{"exp": at(0)}), secret), cfg: withCfg(hs, func(c *Config) { c.Leeway = -1 }), wantErr: ReasonExpired},
		{name: "missing exp", token: mustHS(t, claims(map[string]any{"exp": nil}), secret), cfg: hs, wantErr: ReasonMalformed},
		{name: "string exp", token: mustHS(t, claims(map[string]any{"exp": "tomorrow"}), secret), cfg: hs, wantErr: ReasonMalformed},
		{name: "absurd exp", token: mustHS(t, claims(map[string]any{"exp": 1e300}), secret), cfg: hs, wantErr: ReasonMalformed},
		{name: "nbf within leeway", token: mustHS(t, claims(map[string]any{"nbf": at(20 * time.Second)}), secret), cfg: hs, wantRole: "operator"},
		{name: "nbf in future", token: mustHS(t, claims(map[string]any{"nbf": at(time.Minute)}), secret), cfg: hs, wantErr: ReasonNotYetValid},
		{name: "iat in future", token: mustHS(t, claims(map[string]any{"iat": at(time.Minute)}), secret), cfg: hs, wantErr: ReasonNotYetValid},
		{name: "iat within leeway", token: mustHS(t, claims(map[string]any{"iat": at(10 * time.Second)}), secret), cfg: hs, wantRole: "operator"},
		{name: "sub of wrong type", token: mustHS(t, claims(map[string]any{"sub": 42}), secret), cfg: hs, wantErr: ReasonMalformed},

		// Signatures and keys.
		{name: "wrong secret", token: mustHS(t, claims(nil), []byte("another secret, just as long....")), cfg: hs, wantErr: ReasonBadSignature},
		{name: "tampered payload", token: parts[0] + "." + adminPayload + "." + parts[2], cfg: hs, wantErr: ReasonBadSignature},
		{name: "truncated signature", token: parts[0] + "." + parts[1] + "." + enc.EncodeToString(mustDecode(t, parts[2])[:16]), cfg: hs, wantErr: ReasonBadSignature},
		{name: "empty signature", token: parts[0] + "." + parts[1] + ".", cfg: hs, wantErr: ReasonBadSignature},
		{name: "RS256 wrong key for kid", token: mustRS(t, claims(nil), other, "k1"), cfg: rs, wantErr: ReasonBadSignature},
		{name: "RS256 unknown kid", token: mustRS(t, claims(nil), key, "k9"), cfg: rs, wantErr: ReasonUnknownKid},
		{name: "RS256 no kid and no default key", token: mustRS(t, claims(nil), key, ""), cfg: Config{RSAKeys: map[string]*rsa.PublicKey{"k1": &key.PublicKey}, Now: testNow}, wantErr: ReasonUnknownKid},
		{name: "RS256 nil key", token: mustRS(t, claims(nil), key, "k1"), cfg: Config{RSAKeys: map[string]*rsa.PublicKey{"k1": nil}, Now: testNow}, wantErr: ReasonUnknownKid},
		{name: "RS256 without RSA keys", token: mustRS(t, claims(nil), key, "k1"), cfg: hs, wantErr: ReasonUnsupportedAlg},
		{name: "HS256 without secret", token: valid, cfg: rs, wantErr: ReasonUnsupportedAlg},
		{name: "empty config", token: valid, cfg: Config{Now: testNow}, wantErr: ReasonUnsupportedAlg},
		{name: "alg none", token: rawToken(`{"alg":"none","typ":"JWT"}`, `{"role":"admin","exp":`+itoa(at(time.Hour))+`}`, nil), cfg: hs, wantErr: ReasonUnsupportedAlg},
		{name: "alg None", token: rawToken(`{"alg":"None"}`, `{"role":"admin","exp":`+itoa(at(time.Hour))+`}`, nil), cfg: rs, wantErr: ReasonUnsupportedAlg},
		{name: "alg lower case", token: rawToken(`{"alg":"hs256"}`, `{"role":"admin","exp":`+itoa(at(time.Hour))+`}`, secret), cfg: hs, wantErr: ReasonUnsupportedAlg},
		{name: "alg HS512", token: rawToken(`{"alg":"HS512"}`, `{"role":"admin","exp":`+itoa(at(time.Hour))+`}`, secret), cfg: hs, wantErr: ReasonUnsupportedAlg},
		{name: "alg missing", token: rawToken(`{}`, `{"role":"admin","exp":`+itoa(at(time.Hour))+`}`, secret), cfg: hs, wantErr: ReasonUnsupportedAlg},
		{name: "crit header", token: rawToken(`{"alg":"HS256","crit":["exp"]}`, `{"role":"admin","exp":`+itoa(at(time.Hour))+`}`, secret), cfg: hs, wantErr: ReasonMalformed},

		// Structure.
		{name: "empty", token: "", cfg: hs, wantErr: ReasonMalformed},
		{name: "one segment", token: parts[0], cfg: hs, wantErr: ReasonMalformed},
		{name: "two segments", token: parts[0] + "." + parts[1], cfg: hs, wantErr: ReasonMalformed},
		{name: "four segments", token: valid + "." + parts[2], cfg: hs, wantErr: ReasonMalformed},
		{name: "bad base64 header", token: "eyJ*bGciOiJIUzI1NiJ9." + parts[1] + "." + parts[2], cfg: hs, wantErr: ReasonMalformed},
		{name: "bad base64 payload", token: parts[0] + ".e30!." + parts[2], cfg: hs, wantErr: ReasonMalformed},
		{name: "padded signature", token: valid + "=", cfg: hs, wantErr: ReasonMalformed},
		{name: "std base64 alphabet", token: parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]) + "+/", cfg: hs, wantErr: ReasonMalformed},
		{name: "non-canonical base64", token: parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + nonCanonicalLast(parts[2]), cfg: hs, wantErr: ReasonMalformed},
		{name: "newline in signature", token: parts[0] + "." + parts[1] + "." + parts[2][:5] + "\n" + parts[2][5:], cfg: hs, wantErr: ReasonMalformed},
		{name: "header not JSON", token: rawToken(`alg=HS256`, `{"role":"admin","exp":`+itoa(at(time.Hour))+`}`, secret), cfg: hs, wantErr: ReasonMalformed},
		{name: "header null", token: rawToken(`null`, `{"role":"admin","exp":`+itoa(at(time.Hour))+`}`, secret), cfg: hs, wantErr: ReasonMalformed},
		{name: "payload null", token: rawToken(`{"alg":"HS256"}`, `null`, secret), cfg: hs, wantErr: ReasonMalformed},
		{name: "payload array", token: rawToken(`{"alg":"HS256"}`, `["admin"]`, secret), cfg: hs, wantErr: ReasonMalformed},
		{name: "payload trailing garbage", token: rawToken(`{"alg":"HS256"}`, `{"role":"admin","exp":`+itoa(at(time.Hour))+`}x`, secret), cfg: hs, wantErr: ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Verify(t.Context(), tt.token, tt.cfg)
			if reason := reasonOf(err); reason != tt.wantErr {
				t.Fatalf("Verify error = %v (reason %q), want reason %q", err, reason, tt.wantErr)
			}
			if err != nil {
				if got.Role != "" || got.Raw != nil {
					t.Errorf("refused token returned claims %+v", got)
				}
				return
			}
			if got.Role != tt.wantRole {
				t.Errorf("Role = %q, want %q", got.Role, tt.wantRole)
			}
			if got.ExpiresAt.IsZero() || got.Raw == nil {
				t.Errorf("claims incomplete: %+v", got)
			}
		})
	}
}

func TestVerifyClaims(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	exp := testNow().Add(time.Hour)
	tok := mustHS(t, claims(map[string]any{"exp": exp.Unix(), "email": "alice@example.com"}), secret)
	got, err := Verify(t.Context(), tok, Config{HS256Secret: secret, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "alice" || got.Role != RoleOperator || !got.ExpiresAt.Equal(exp) || got.Raw["email"] != "alice@example.com" {
		t.Errorf("claims = %+v", got)
	}
}

// TestVerifyDefaultClock checks that a Config without Now uses the real
// clock: a token that expired long ago is refused and a fresh one accepted.
func TestVerifyDefaultClock(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	cfg := Config{HS256Secret: secret}
	fresh := mustHS(t, map[string]any{"role": "viewer", "exp": time.Now().Add(time.Hour).Unix()}, secret)
	if _, err := Verify(t.Context(), fresh, cfg); err != nil {
		t.Errorf("fresh token: %v", err)
	}
	stale := mustHS(t, map[string]any{"role": "viewer", "exp": time.Now().Add(-time.Hour).Unix()}, secret)
	if _, err := Verify(t.Context(), stale, cfg); reasonOf(err) != ReasonExpired {
		t.Errorf("stale token: %v, want expired", err)
	}
}

// TestAlgConfusion checks the classic attack on libraries that take the
// algorithm from the token: an HS256 token whose HMAC key is the issuer's
// RSA public key, which anyone can fetch.
func TestAlgConfusion(t *testing.T) {
	key := newRSAKey(t)
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pkix := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&key.PublicKey)})
	cfg := Config{RSAKeys: map[string]*rsa.PublicKey{"": &key.PublicKey, "k1": &key.PublicKey}, Now: testNow}
	for name, secret := range map[string][]byte{
		"PKIX PEM":  pkix,
		"PKIX DER":  der,
		"PKCS1 PEM": pkcs1,
		"modulus":   key.N.Bytes(),
	} {
		for _, hdr := range []string{`{"alg":"HS256","typ":"JWT"}`, `{"alg":"HS256","kid":"k1"}`} {
			tok := rawToken(hdr, `{"sub":"mallory","role":"admin","exp":`+itoa(testNow().Add(time.Hour).Unix())+`}`, secret)
			if _, err := Verify(t.Context(), tok, cfg); reasonOf(err) != ReasonUnsupportedAlg {
				t.Errorf("%s, header %s: Verify error %v, want %s", name, hdr, err, ReasonUnsupportedAlg)
			}
		}
	}
}

func TestErrorIs(t *testing.T) {
	_, err := Verify(t.Context(), "x", Config{})
	if !errors.Is(err, &Error{Reason: ReasonMalformed}) {
		t.Errorf("errors.Is(%v, malformed) = false", err)
	}
	if errors.Is(err, &Error{Reason: ReasonExpired}) {
		t.Errorf("errors.Is(%v, expired) = true", err)
	}
	if got, want := err.Error(), "jwt: token refused: malformed"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestSignErrors(t *testing.T) {
	if _, err := SignHS256(claims(nil), nil); err == nil {
		t.Error("SignHS256 with empty secret succeeded")
	}
	if _, err := SignRS256(claims(nil), nil, ""); err == nil {
		t.Error("SignRS256 with nil key succeeded")
	}
	if _, err := SignHS256(map[string]any{"bad": func() {}}, []byte("s")); err == nil {
		t.Error("SignHS256 with unencodable claims succeeded")
	}
}

func mustDecode(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nonCanonicalLast returns the last character of the unpadded base64url
// encoding of a 32-byte value with its unused low bits set, which a lax
// decoder would accept as the same value.
func nonCanonicalLast(seg string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, seg[len(seg)-1])
	return string(alphabet[i|1])
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
