package auth

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubestellar/ksplugins/internal/auth/jwt"
	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/store/sqlite"
)

func TestAllows(t *testing.T) {
	tests := []struct {
		role, need string
		want       bool
	}{
		{Admin, Admin, true}, {Admin, Viewer, true}, {Operator, Admin, false}, {Operator, Operator, true},
		{Viewer, Operator, false}, {Viewer, Viewer, true}, {"", Viewer, false}, {"root", Viewer, false}, {Admin, "root", false},
	}
	for _, tt := range tests {
		if got := Allows(tt.role, tt.need); got != tt.want {
			t.Errorf("Allows(%q, %q) = %v", tt.role, tt.need, got)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	a := NewAuthenticator("the-admin-token", db)
	a.now = func() time.Time { return now }

	mk := func(name, role string, ttl time.Duration) string {
		secret, tok, err := NewToken(name, role, ttl, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.PutToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		return secret
	}
	viewer := mk("viewer", Viewer, 0)
	short := mk("short", Operator, time.Minute)
	revoked := mk("gone", Admin, 0)
	if err := db.RevokeToken(ctx, "gone", now); err != nil {
		t.Fatal(err)
	}
	secret := []byte(strings.Repeat("k", 32))
	a.SetJWT(ctx, &jwt.Config{HS256Secret: secret, Now: func() time.Time { return now }})
	signed, err := jwt.SignHS256(map[string]any{"sub": "ada", "role": "operator", "exp": now.Add(time.Hour).Unix()}, secret)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := jwt.SignHS256(map[string]any{"sub": "mallory", "role": "admin", "exp": now.Add(time.Hour).Unix()}, []byte(strings.Repeat("m", 32)))
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute) // the short token has expired

	tests := []struct {
		name, bearer, who, role, fails string
	}{
		{"admin token", "the-admin-token", "admin", Admin, ""},
		{"named token", viewer, "viewer", Viewer, ""},
		{"jwt", signed, "ada", Operator, ""},
		{"missing", "", "", "", "missing bearer token"},
		{"unknown", "ksp_nope", "", "", "invalid token"},
		{"expired", short, "", "", "expired"},
		{"revoked", revoked, "", "", "revoked"},
		{"jwt signed with another key", forged, "", "", "bad_signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := a.Authenticate(ctx, tt.bearer)
			if tt.fails != "" {
				if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), tt.fails) {
					t.Fatalf("err = %v; want unauthorized: %s", err, tt.fails)
				}
				return
			}
			if err != nil || id.Name != tt.who || id.Role != tt.role {
				t.Fatalf("got %+v, %v; want %s as %s", id, err, tt.who, tt.role)
			}
		})
	}
}

func TestNewToken(t *testing.T) {
	for _, bad := range [][2]string{{"Has Space", Viewer}, {"admin", Admin}, {"ok", "root"}, {"", Viewer}} {
		if _, _, err := NewToken(bad[0], bad[1], 0, time.Now()); err == nil {
			t.Errorf("NewToken(%q, %q) accepted", bad[0], bad[1])
		}
	}
	secret, tok, err := NewToken("ci", Operator, time.Hour, time.Now())
	if err != nil || tok.ExpiresAt == nil || strings.Contains(tok.Hash, secret) || len(tok.Hash) != 64 {
		t.Fatalf("NewToken: %+v %v", tok, err)
	}
}

func TestLoadJWTRemote(t *testing.T) {
	cfg, err := LoadJWT(&config.JWTConfig{OIDCIssuer: "https://login.example/realms/ks", Audience: "ksplugins"})
	if err != nil {
		t.Fatal(err)
	}
	// The discovered issuer is the only one whose tokens are accepted,
	// even with jwt.issuer left empty.
	if cfg.Keys == nil || cfg.Issuer != "https://login.example/realms/ks" || cfg.Audience != "ksplugins" {
		t.Errorf("oidc_issuer: config %+v", cfg)
	}
	if cfg, err := LoadJWT(&config.JWTConfig{JWKSURL: "https://login.example/keys"}); err != nil || cfg.Keys == nil || cfg.Issuer != "" {
		t.Errorf("jwks_url: config %+v, %v", cfg, err)
	}
	if _, err := LoadJWT(&config.JWTConfig{JWKSURL: "http://login.example/keys"}); err == nil || !strings.HasPrefix(err.Error(), "jwt.jwks_url: ") {
		t.Errorf("jwks_url over plain http: %v, want a jwt.jwks_url error", err)
	}
}
