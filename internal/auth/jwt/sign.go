package jwt

import (
	"crypto/rsa"
	"errors"
	"fmt"

	jwtlib "github.com/golang-jwt/jwt/v5"
)

// SignHS256 returns claims as a token signed with secret. It exists for
// tests and tools that need tokens Verify accepts; production tokens come
// from the UI's login.
func SignHS256(claims map[string]any, secret []byte) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("jwt: empty HS256 secret")
	}
	return sign(jwtlib.SigningMethodHS256, claims, "", secret)
}

// SignRS256 returns claims as a token signed with key, naming kid in the
// header unless kid is empty. Like SignHS256, it is for tests and tools.
func SignRS256(claims map[string]any, key *rsa.PrivateKey, kid string) (string, error) {
	if key == nil {
		return "", errors.New("jwt: nil RSA key")
	}
	return sign(jwtlib.SigningMethodRS256, claims, kid, key)
}

func sign(method jwtlib.SigningMethod, claims map[string]any, kid string, key any) (string, error) {
	if claims == nil {
		claims = map[string]any{} // not null, which Verify refuses
	}
	t := jwtlib.NewWithClaims(method, jwtlib.MapClaims(claims))
	if kid != "" {
		t.Header["kid"] = kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("jwt: sign %s: %w", method.Alg(), err)
	}
	return s, nil
}
