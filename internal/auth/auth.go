package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kubestellar/ksplugins/internal/auth/jwt"
	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/store"
)

// The roles, each allowed what the one before it is, and more.
const (
	// Viewer reads: plugins, status, health, events, metrics, configuration.
	Viewer = "viewer"
	// Operator also enables, disables, reloads and configures plugins.
	Operator = "operator"
	// Admin also installs, uploads, updates and unloads plugins, and manages
	// the security configuration, tokens and the audit log.
	Admin = "admin"
)

// rank orders the roles; an unknown role ranks below viewer.
func rank(role string) int {
	switch role {
	case Viewer:
		return 1
	case Operator:
		return 2
	case Admin:
		return 3
	}
	return 0
}

// Allows reports whether role may do what need requires.
func Allows(role, need string) bool { return rank(role) >= rank(need) && rank(need) > 0 }

// ValidRole reports whether role is one of the three.
func ValidRole(role string) bool { return rank(role) > 0 }

// Identity is who made a request.
type Identity struct {
	// Name is the token's name, the JWT subject, or "admin".
	Name string `json:"name"`
	Role string `json:"role"`
	// Via says how they proved it: "admin-token", "token", "jwt", "local".
	Via string `json:"via"`
}

type identityKey struct{}

// WithIdentity returns a context carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the identity a context carries.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// ErrUnauthorized is a missing, unknown, expired or revoked credential.
var ErrUnauthorized = errors.New("unauthorized")

// Authenticator turns bearer credentials into identities: the admin token,
// named tokens from the store, or JWTs when configured.
type Authenticator struct {
	admin [32]byte
	store store.Store
	jwt   atomic.Pointer[jwt.Config]
	now   func() time.Time

	// stopMu guards stopKeys, which ends the refresh of the remote keys
	// of the JWT configuration in force, if it has any.
	stopMu   sync.Mutex
	stopKeys context.CancelFunc
}

// NewAuthenticator returns an Authenticator for the admin token and the
// store's named tokens.
func NewAuthenticator(adminToken string, st store.Store) *Authenticator {
	return &Authenticator{admin: sha256.Sum256([]byte(adminToken)), store: st, now: time.Now}
}

// SetJWT turns JWT validation on (cfg non-nil) or off. If cfg fetches its
// keys from a provider (cfg.Keys), their periodic refresh runs until ctx
// ends or SetJWT is called again, whichever is first.
func (a *Authenticator) SetJWT(ctx context.Context, cfg *jwt.Config) {
	a.stopMu.Lock()
	defer a.stopMu.Unlock()
	if a.stopKeys != nil {
		a.stopKeys()
		a.stopKeys = nil
	}
	if cfg != nil && cfg.Keys != nil {
		runCtx, cancel := context.WithCancel(ctx)
		a.stopKeys = cancel
		go cfg.Keys.Run(runCtx)
	}
	a.jwt.Store(cfg)
}

// Authenticate checks a bearer credential.
func (a *Authenticator) Authenticate(ctx context.Context, bearer string) (Identity, error) {
	bearer = strings.TrimSpace(bearer)
	if bearer == "" {
		return Identity{}, fmt.Errorf("%w: missing bearer token: send Authorization: Bearer <token>", ErrUnauthorized)
	}
	sum := sha256.Sum256([]byte(bearer))
	if subtle.ConstantTimeCompare(sum[:], a.admin[:]) == 1 {
		return Identity{Name: "admin", Role: Admin, Via: "admin-token"}, nil
	}
	if strings.Count(bearer, ".") == 2 {
		if cfg := a.jwt.Load(); cfg != nil {
			claims, err := jwt.Verify(ctx, bearer, *cfg)
			if err != nil {
				return Identity{}, fmt.Errorf("%w: %v", ErrUnauthorized, err)
			}
			return Identity{Name: claims.Subject, Role: claims.Role, Via: "jwt"}, nil
		}
	}
	t, err := a.store.TokenByHash(ctx, hex.EncodeToString(sum[:]))
	if errors.Is(err, store.ErrNotFound) {
		return Identity{}, fmt.Errorf("%w: invalid token", ErrUnauthorized)
	}
	if err != nil {
		return Identity{}, fmt.Errorf("check token: %w", err)
	}
	now := a.now()
	switch {
	case t.RevokedAt != nil:
		return Identity{}, fmt.Errorf("%w: token %s was revoked", ErrUnauthorized, t.Name)
	case t.ExpiresAt != nil && now.After(*t.ExpiresAt):
		return Identity{}, fmt.Errorf("%w: token %s expired at %s", ErrUnauthorized, t.Name, t.ExpiresAt.Format(time.RFC3339))
	}
	return Identity{Name: t.Name, Role: t.Role, Via: "token"}, nil
}

// tokenName is what a token may be called: it appears in audit records.
var tokenName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// NewToken makes a named token with a role and an optional lifetime. It
// returns the secret, shown once, and the record to store, which holds
// only the secret's hash.
func NewToken(name, role string, ttl time.Duration, now time.Time) (string, store.Token, error) {
	switch {
	case !tokenName.MatchString(name) || name == "admin":
		return "", store.Token{}, fmt.Errorf("name: %q must be lowercase letters, digits, '.', '_' or '-', up to 63, and not admin", name)
	case !ValidRole(role):
		return "", store.Token{}, fmt.Errorf("role: %q must be viewer, operator or admin", role)
	case ttl < 0:
		return "", store.Token{}, fmt.Errorf("ttl: must not be negative")
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", store.Token{}, err
	}
	secret := "ksp_" + base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(secret))
	t := store.Token{Name: name, Role: role, Hash: hex.EncodeToString(sum[:]), CreatedAt: now.UTC()}
	if ttl > 0 {
		exp := now.Add(ttl).UTC()
		t.ExpiresAt = &exp
	}
	return secret, t, nil
}

// LoadJWT reads the keys a JWT configuration names and returns the
// verifier's configuration; nil c turns JWTs off. Keys from a JWKS URL or
// an OIDC issuer are not fetched here but when first needed, and then
// refreshed while the Authenticator holds the configuration (SetJWT).
func LoadJWT(c *config.JWTConfig) (*jwt.Config, error) {
	if c == nil {
		return nil, nil
	}
	cfg := &jwt.Config{Issuer: c.Issuer, Audience: c.Audience, RoleClaim: c.RoleClaim}
	switch {
	case c.HS256SecretFile != "":
		secret, err := os.ReadFile(c.HS256SecretFile)
		if err != nil {
			return nil, fmt.Errorf("jwt.hs256_secret_file: %w", err)
		}
		cfg.HS256Secret = []byte(strings.TrimSpace(string(secret)))
		if len(cfg.HS256Secret) < 32 {
			return nil, fmt.Errorf("jwt.hs256_secret_file: the secret must be at least 32 bytes")
		}
	case c.RS256PublicKeyFile != "":
		data, err := os.ReadFile(c.RS256PublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("jwt.rs256_public_key_file: %w", err)
		}
		key, err := jwt.LoadRSAPublicKeyPEM(data)
		if err != nil {
			return nil, fmt.Errorf("jwt.rs256_public_key_file: %w", err)
		}
		cfg.RSAKeys = map[string]*rsa.PublicKey{"": key}
	case c.JWKSFile != "":
		data, err := os.ReadFile(c.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("jwt.jwks_file: %w", err)
		}
		if cfg.RSAKeys, err = jwt.LoadJWKS(data); err != nil {
			return nil, fmt.Errorf("jwt.jwks_file: %w", err)
		}
	case c.JWKSURL != "":
		keys, err := jwt.NewRemoteKeys(jwt.RemoteOptions{JWKSURL: c.JWKSURL})
		if err != nil {
			return nil, fmt.Errorf("jwt.jwks_url: %w", err)
		}
		cfg.Keys = keys
	case c.OIDCIssuer != "":
		keys, err := jwt.NewRemoteKeys(jwt.RemoteOptions{Issuer: c.OIDCIssuer})
		if err != nil {
			return nil, fmt.Errorf("jwt.oidc_issuer: %w", err)
		}
		cfg.Keys = keys
		// Tokens must come from the issuer whose keys verify them.
		cfg.Issuer = c.OIDCIssuer
	}
	return cfg, nil
}
