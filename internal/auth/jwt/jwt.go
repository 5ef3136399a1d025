// Package jwt verifies the JSON Web Tokens (RFC 7519) that the KubeStellar
// UI's login hands out, so that a deployment behind that login can trust a
// caller's identity and role without a session store of its own.
//
// Only what those tokens need is supported: the compact serialization,
// signed with HS256 (a shared secret) or RS256 (keys from PEM, a JWKS
// document, a JWKS URL or an OpenID Connect issuer's discovery document).
// Every other algorithm, "none" included, is refused, and a token may only
// use the kind of key the Config actually holds, so an attacker cannot pass
// off an RSA public key as an HMAC secret.
//
// Parsing, signatures and the registered claims are left to
// github.com/golang-jwt/jwt/v5; this package chooses the keys, fetches
// remote ones (RemoteKeys), maps the library's errors to stable reasons
// and reads the role.
package jwt

import (
	"context"
	"crypto/rsa"
	"errors"
	"math"
	"strings"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"
)

// Roles a token may grant, from least to most privileged.
const (
	RoleViewer   = "viewer"
	RoleOperator = "operator"
	RoleAdmin    = "admin"
)

// Reasons a token is refused. They are stable, so callers may log them,
// count them or put them in a WWW-Authenticate error_description.
const (
	ReasonMalformed      = "malformed"
	ReasonUnsupportedAlg = "unsupported_alg"
	ReasonBadSignature   = "bad_signature"
	ReasonUnknownKid     = "unknown_kid"
	ReasonExpired        = "expired"
	ReasonNotYetValid    = "not_yet_valid"
	ReasonWrongIssuer    = "wrong_issuer"
	ReasonWrongAudience  = "wrong_audience"
	ReasonMissingRole    = "missing_role"
	ReasonUnknownRole    = "unknown_role"
)

// DefaultLeeway is the clock skew allowed between the token's issuer and
// this process when Config.Leeway is zero.
const DefaultLeeway = 30 * time.Second

// DefaultRoleClaim is the claim read for the role when Config.RoleClaim is
// empty.
const DefaultRoleClaim = "role"

// maxNumericDate bounds exp, nbf and iat to values a float64 holds exactly,
// which keeps the conversion to time.Time well defined.
const maxNumericDate = 1 << 53

// Config says which tokens Verify accepts. The zero value accepts none: at
// least one of HS256Secret, RSAKeys and Keys must be set.
type Config struct {
	// HS256Secret, if set, lets tokens signed with HS256 in. RFC 7518
	// asks for at least 32 bytes.
	HS256Secret []byte

	// RSAKeys, if non-empty, lets tokens signed with RS256 in. A token's
	// kid header selects the key; a token without a kid uses the key
	// stored under "".
	RSAKeys map[string]*rsa.PublicKey

	// Keys, if set, also lets tokens signed with RS256 in, with keys
	// fetched from a JWKS URL or through OIDC discovery. RSAKeys is
	// looked at first.
	Keys *RemoteKeys

	// Issuer, if set, must equal the token's iss claim.
	Issuer string

	// Audience, if set, must be the token's aud claim or one of its
	// elements.
	Audience string

	// RoleClaim names the claim holding the caller's role: a string, or
	// an array of strings of which the most privileged known role wins.
	// Empty means DefaultRoleClaim.
	RoleClaim string

	// Leeway is the clock skew tolerated when checking exp, nbf and iat.
	// Zero means DefaultLeeway; a negative value means none.
	Leeway time.Duration

	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Claims is what a verified token says about its bearer.
type Claims struct {
	// Subject is the sub claim: who the token was issued to.
	Subject string
	// Role is the bearer's role: RoleViewer, RoleOperator or RoleAdmin.
	Role string
	// ExpiresAt is the exp claim, so callers can end sessions with it.
	ExpiresAt time.Time
	// Raw holds every claim as decoded by encoding/json, for callers that
	// need more than the fields above.
	Raw map[string]any
}

// Error is the error Verify returns for every token it refuses. Reason is
// one of the Reason constants; the error deliberately carries no further
// detail, so it is safe to show to the caller that sent the token.
type Error struct {
	Reason string
}

func (e *Error) Error() string { return "jwt: token refused: " + e.Reason }

// Is reports whether target is an *Error with the same Reason, so that
// errors.Is(err, &jwt.Error{Reason: jwt.ReasonExpired}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason
}

func refuse(reason string) (Claims, error) {
	return Claims{}, &Error{Reason: reason}
}

// allowedAlg reports whether alg is one of the only two algorithms a token
// may name.
func allowedAlg(alg string) bool { return alg == "HS256" || alg == "RS256" }

// Verify checks token against cfg and returns its claims. A token is
// accepted only if all of the following hold:
//
//   - it is three base64url segments without padding, with JSON object
//     header and payload, and its header has no crit member (RFC 7515,
//     section 4.1.11: we understand no extensions);
//   - its alg is HS256 or RS256 and cfg holds a key of that kind (and, for
//     RS256, one under the token's kid), and the signature is valid;
//   - exp is present and not passed, nbf (if any) is reached and iat (if
//     any) is not in the future, each give or take the leeway;
//   - iss and aud match cfg.Issuer and cfg.Audience, when those are set;
//   - the role claim names viewer, operator or admin.
//
// Parsing, the signature and the registered claims are checked by
// github.com/golang-jwt/jwt/v5; the role mapping is ours. ctx bounds a
// fetch of remote keys when the token names a kid cfg.Keys has not seen.
// A missing or non-numeric exp is reported as ReasonMalformed. Every error
// is an *Error.
func Verify(ctx context.Context, token string, cfg Config) (Claims, error) {
	// The base64 decoder skips CR and LF even in strict mode; refuse them
	// so that each token has exactly one spelling.
	if strings.ContainsAny(token, "\r\n") {
		return refuse(ReasonMalformed)
	}
	leeway := cfg.Leeway
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0:
		leeway = 0
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	opts := []jwtlib.ParserOption{
		jwtlib.WithValidMethods([]string{"HS256", "RS256"}),
		jwtlib.WithStrictDecoding(),
		jwtlib.WithExpirationRequired(),
		jwtlib.WithIssuedAt(),
		jwtlib.WithLeeway(leeway),
		jwtlib.WithTimeFunc(now),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwtlib.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwtlib.WithAudience(cfg.Audience))
	}
	raw := jwtlib.MapClaims{}
	tok, err := jwtlib.NewParser(opts...).ParseWithClaims(token, raw, func(t *jwtlib.Token) (any, error) {
		return cfg.key(ctx, t)
	})
	if reason := refusal(tok, raw, err, cfg); reason != "" {
		return refuse(reason)
	}

	if _, present := raw["sub"]; present {
		if _, ok := raw["sub"].(string); !ok {
			return refuse(ReasonMalformed)
		}
	}
	claim := cfg.RoleClaim
	if claim == "" {
		claim = DefaultRoleClaim
	}
	role, reason := roleOf(raw[claim])
	if reason != "" {
		return refuse(reason)
	}
	sub, _ := raw["sub"].(string)
	exp, _ := raw.GetExpirationTime() // present and valid: the parser checked
	return Claims{Subject: sub, Role: role, ExpiresAt: exp.Time, Raw: raw}, nil
}

// key returns the key that verifies t, or an *Error saying why there is
// none. The library has already refused algorithms other than HS256 and
// RS256; the switch checks again so that this function alone keeps each
// algorithm to its own kind of key.
func (cfg Config) key(ctx context.Context, t *jwtlib.Token) (any, error) {
	switch t.Method.Alg() {
	case "HS256":
		// Only a configured secret may verify HS256: otherwise an RSA
		// public key, which is no secret, could be used to forge tokens.
		if len(cfg.HS256Secret) == 0 {
			return nil, &Error{Reason: ReasonUnsupportedAlg}
		}
		return cfg.HS256Secret, nil
	case "RS256":
		if len(cfg.RSAKeys) == 0 && cfg.Keys == nil {
			return nil, &Error{Reason: ReasonUnsupportedAlg}
		}
		kid, ok := t.Header["kid"].(string)
		if _, present := t.Header["kid"]; present && !ok {
			return nil, &Error{Reason: ReasonMalformed}
		}
		if key := cfg.RSAKeys[kid]; key != nil {
			return key, nil
		}
		if cfg.Keys != nil {
			if key := cfg.Keys.key(ctx, kid); key != nil {
				return key, nil
			}
		}
		return nil, &Error{Reason: ReasonUnknownKid}
	}
	return nil, &Error{Reason: ReasonUnsupportedAlg}
}

// refusal maps what the parser made of a token to one of the Reason
// constants, or "" if the token passes. Structural problems come first,
// then the algorithm and key, then the claims in the order exp, nbf and
// iat, iss, aud.
func refusal(tok *jwtlib.Token, raw jwtlib.MapClaims, err error, cfg Config) string {
	if tok == nil || tok.Header == nil {
		return ReasonMalformed // too few segments, or a null header
	}
	if _, crit := tok.Header["crit"]; crit {
		return ReasonMalformed
	}
	var refused *Error
	switch {
	case errors.As(err, &refused): // from Config.key
		return refused.Reason
	case errors.Is(err, jwtlib.ErrTokenMalformed):
		return ReasonMalformed
	case errors.Is(err, jwtlib.ErrTokenUnverifiable):
		return ReasonUnsupportedAlg // alg missing or unknown to the library
	case errors.Is(err, jwtlib.ErrTokenSignatureInvalid):
		if tok.Method == nil || !allowedAlg(tok.Method.Alg()) {
			return ReasonUnsupportedAlg // "none", HS512 and the like
		}
		return ReasonBadSignature
	}
	// The signature holds (or err is nil): look at the claims. The library
	// reads NumericDates of any size; beyond 2^53 seconds a float64 is no
	// longer exact, so such dates are refused as malformed first.
	for _, name := range []string{"exp", "nbf", "iat"} {
		if f, isNum := raw[name].(float64); isNum && math.Abs(f) > maxNumericDate {
			return ReasonMalformed
		}
	}
	if _, hasExp := raw["exp"]; !hasExp {
		return ReasonMalformed
	}
	switch {
	case err == nil:
		return ""
	case errors.Is(err, jwtlib.ErrInvalidType):
		return ReasonMalformed
	case errors.Is(err, jwtlib.ErrTokenExpired):
		return ReasonExpired
	case errors.Is(err, jwtlib.ErrTokenNotValidYet), errors.Is(err, jwtlib.ErrTokenUsedBeforeIssued):
		return ReasonNotYetValid
	case errors.Is(err, jwtlib.ErrTokenInvalidIssuer):
		return ReasonWrongIssuer
	case errors.Is(err, jwtlib.ErrTokenInvalidAudience):
		return ReasonWrongAudience
	case errors.Is(err, jwtlib.ErrTokenRequiredClaimMissing):
		// exp is present, so the missing claim is iss or aud.
		if iss, _ := raw["iss"].(string); cfg.Issuer != "" && iss == "" {
			return ReasonWrongIssuer
		}
		return ReasonWrongAudience
	}
	return ReasonMalformed
}

// roleOf returns the role granted by the role claim's value v, or the
// reason v grants none. In an array, entries that are not known roles are
// ignored, since identity providers often put unrelated groups there.
func roleOf(v any) (role, reason string) {
	switch v := v.(type) {
	case nil:
		return "", ReasonMissingRole
	case string:
		if rank(v) == 0 {
			return "", ReasonUnknownRole
		}
		return v, ""
	case []any:
		if len(v) == 0 {
			return "", ReasonMissingRole
		}
		for _, e := range v {
			if s, ok := e.(string); ok && rank(s) > rank(role) {
				role = s
			}
		}
		if role == "" {
			return "", ReasonUnknownRole
		}
		return role, ""
	default:
		return "", ReasonUnknownRole
	}
}

// rank orders the known roles by privilege; unknown roles rank 0.
func rank(role string) int {
	switch role {
	case RoleViewer:
		return 1
	case RoleOperator:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}
