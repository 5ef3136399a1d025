// Package jwt verifies the JSON Web Tokens (RFC 7519) that the KubeStellar
// UI's login hands out, so that a deployment behind that login can trust a
// caller's identity and role without a session store of its own.
//
// Only what those tokens need is supported: the compact serialization,
// signed with HS256 (a shared secret) or RS256 (keys from PEM or a JWKS
// document). Every other algorithm, "none" included, is refused, and a
// token may only use the kind of key the Config actually holds, so an
// attacker cannot pass off an RSA public key as an HMAC secret.
package jwt

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
	"time"
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
// least one of HS256Secret and RSAKeys must be set.
type Config struct {
	// HS256Secret, if set, lets tokens signed with HS256 in. RFC 7518
	// asks for at least 32 bytes.
	HS256Secret []byte

	// RSAKeys, if non-empty, lets tokens signed with RS256 in. A token's
	// kid header selects the key; a token without a kid uses the key
	// stored under "".
	RSAKeys map[string]*rsa.PublicKey

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

// header is the part of a JOSE header Verify looks at.
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	// Crit lists extensions the issuer requires us to understand (RFC
	// 7515, section 4.1.11). We understand none, so its presence refuses
	// the token.
	Crit json.RawMessage `json:"crit"`
}

// Verify checks token against cfg and returns its claims. A token is
// accepted only if all of the following hold:
//
//   - it is three base64url segments without padding, with JSON object
//     header and payload;
//   - its alg is HS256 or RS256 and cfg holds a key of that kind (and, for
//     RS256, one under the token's kid), and the signature is valid;
//   - exp is present and not passed, nbf (if any) is reached and iat (if
//     any) is not in the future, each give or take the leeway;
//   - iss and aud match cfg.Issuer and cfg.Audience, when those are set;
//   - the role claim names viewer, operator or admin.
//
// A missing or non-numeric exp is reported as ReasonMalformed. Every error
// is an *Error.
func Verify(token string, cfg Config) (Claims, error) {
	h64, rest, ok1 := strings.Cut(token, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s64, ".") {
		return refuse(ReasonMalformed)
	}
	// The base64 decoder skips CR and LF; refuse them so that each token
	// has exactly one spelling.
	if strings.ContainsAny(token, "\r\n") {
		return refuse(ReasonMalformed)
	}
	enc := base64.RawURLEncoding.Strict()
	hdrJSON, err1 := enc.DecodeString(h64)
	payload, err2 := enc.DecodeString(p64)
	sig, err3 := enc.DecodeString(s64)
	if err1 != nil || err2 != nil || err3 != nil {
		return refuse(ReasonMalformed)
	}
	var hdr header
	if err := json.Unmarshal(hdrJSON, &hdr); err != nil || !isObject(hdrJSON) || hdr.Crit != nil {
		return refuse(ReasonMalformed)
	}

	signed := token[:len(h64)+1+len(p64)]
	switch hdr.Alg {
	case "HS256":
		// Only a configured secret may verify HS256: otherwise an RSA
		// public key, which is no secret, could be used to forge tokens.
		if len(cfg.HS256Secret) == 0 {
			return refuse(ReasonUnsupportedAlg)
		}
		mac := hmac.New(sha256.New, cfg.HS256Secret)
		mac.Write([]byte(signed))
		if !hmac.Equal(mac.Sum(nil), sig) {
			return refuse(ReasonBadSignature)
		}
	case "RS256":
		if len(cfg.RSAKeys) == 0 {
			return refuse(ReasonUnsupportedAlg)
		}
		key := cfg.RSAKeys[hdr.Kid]
		if key == nil {
			return refuse(ReasonUnknownKid)
		}
		digest := sha256.Sum256([]byte(signed))
		if rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig) != nil {
			return refuse(ReasonBadSignature)
		}
	default:
		return refuse(ReasonUnsupportedAlg)
	}

	var raw map[string]any
	if err := json.Unmarshal(payload, &raw); err != nil || !isObject(payload) {
		return refuse(ReasonMalformed)
	}
	return checkClaims(raw, cfg)
}

// checkClaims applies the claim checks of Verify to a payload whose
// signature has been verified.
func checkClaims(raw map[string]any, cfg Config) (Claims, error) {
	exp, hasExp, ok1 := numericDate(raw, "exp")
	nbf, hasNbf, ok2 := numericDate(raw, "nbf")
	iat, hasIat, ok3 := numericDate(raw, "iat")
	sub, ok4 := raw["sub"].(string)
	if _, present := raw["sub"]; present && !ok4 {
		return refuse(ReasonMalformed)
	}
	if !ok1 || !ok2 || !ok3 || !hasExp {
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
	t := now()
	if !t.Before(exp.Add(leeway)) {
		return refuse(ReasonExpired)
	}
	late := t.Add(leeway)
	if (hasNbf && late.Before(nbf)) || (hasIat && late.Before(iat)) {
		return refuse(ReasonNotYetValid)
	}

	if cfg.Issuer != "" {
		if iss, _ := raw["iss"].(string); iss != cfg.Issuer {
			return refuse(ReasonWrongIssuer)
		}
	}
	if cfg.Audience != "" && !hasAudience(raw["aud"], cfg.Audience) {
		return refuse(ReasonWrongAudience)
	}

	claim := cfg.RoleClaim
	if claim == "" {
		claim = DefaultRoleClaim
	}
	role, reason := roleOf(raw[claim])
	if reason != "" {
		return refuse(reason)
	}
	return Claims{Subject: sub, Role: role, ExpiresAt: exp, Raw: raw}, nil
}

// isObject reports whether the valid JSON document doc is an object rather
// than, say, null, which encoding/json would happily decode into a struct
// or map.
func isObject(doc []byte) bool {
	doc = bytes.TrimLeft(doc, " \t\r\n")
	return len(doc) > 0 && doc[0] == '{'
}

// numericDate reads the NumericDate claim name: present says whether the
// claim is there, ok whether it is there as a usable number (or absent).
func numericDate(raw map[string]any, name string) (t time.Time, present, ok bool) {
	v, present := raw[name]
	if !present {
		return time.Time{}, false, true
	}
	f, isNum := v.(float64)
	if !isNum || math.Abs(f) > maxNumericDate {
		return time.Time{}, true, false
	}
	sec := math.Floor(f)
	return time.Unix(int64(sec), int64((f-sec)*1e9)), true, true
}

// hasAudience reports whether aud, a string or an array, names want.
func hasAudience(aud any, want string) bool {
	switch aud := aud.(type) {
	case string:
		return aud == want
	case []any:
		for _, a := range aud {
			if s, ok := a.(string); ok && s == want {
				return true
			}
		}
	}
	return false
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
