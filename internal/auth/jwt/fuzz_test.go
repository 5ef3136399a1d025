package jwt

import (
	"crypto/rsa"
	"errors"
	"testing"
	"time"
)

// FuzzVerify checks that no input makes Verify panic, that every refusal
// is an *Error with a known reason, and that an accepted token always
// carries a known role.
func FuzzVerify(f *testing.F) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	key := newRSAKey(f)
	cfg := Config{
		HS256Secret: secret,
		RSAKeys:     map[string]*rsa.PublicKey{"k1": &key.PublicKey},
		Audience:    "ksplugins",
		Now:         testNow,
	}
	exp := testNow().Add(time.Hour).Unix()
	f.Add(mustHS(f, claims(nil), secret))
	f.Add(mustHS(f, claims(map[string]any{"role": []string{"viewer", "admin"}}), secret))
	f.Add(mustRS(f, claims(nil), key, "k1"))
	f.Add(mustRS(f, claims(nil), key, "nope"))
	f.Add(rawToken(`{"alg":"none"}`, `{"role":"admin","exp":`+itoa(exp)+`}`, nil))
	f.Add(rawToken(`{"alg":"HS256"}`, `{"role":7,"exp":1e400}`, secret))
	f.Add("")
	f.Add("..")
	f.Add("a.b.c.d")
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.")

	known := map[string]bool{
		ReasonMalformed: true, ReasonUnsupportedAlg: true, ReasonBadSignature: true,
		ReasonUnknownKid: true, ReasonExpired: true, ReasonNotYetValid: true,
		ReasonWrongIssuer: true, ReasonWrongAudience: true, ReasonMissingRole: true,
		ReasonUnknownRole: true,
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := Verify(t.Context(), token, cfg)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !known[e.Reason] {
				t.Fatalf("Verify(%q) error %#v is not an *Error with a known reason", token, err)
			}
			return
		}
		if rank(c.Role) == 0 {
			t.Fatalf("Verify(%q) accepted role %q", token, c.Role)
		}
		if c.ExpiresAt.IsZero() || c.Raw == nil {
			t.Fatalf("Verify(%q) accepted incomplete claims %+v", token, c)
		}
	})
}
