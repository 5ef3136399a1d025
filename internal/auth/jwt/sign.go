package jwt

import (
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// signHeader is the JOSE header of the tokens this package signs.
type signHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid,omitempty"`
}

// SignHS256 returns claims as a token signed with secret. It exists for
// tests and tools that need tokens Verify accepts; production tokens come
// from the UI's login.
func SignHS256(claims map[string]any, secret []byte) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("jwt: empty HS256 secret")
	}
	signed, err := signingInput(signHeader{Alg: "HS256", Typ: "JWT"}, claims)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signed))
	return signed + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), nil
}

// SignRS256 returns claims as a token signed with key, naming kid in the
// header unless kid is empty. Like SignHS256, it is for tests and tools.
func SignRS256(claims map[string]any, key *rsa.PrivateKey, kid string) (string, error) {
	if key == nil {
		return "", errors.New("jwt: nil RSA key")
	}
	signed, err := signingInput(signHeader{Alg: "RS256", Typ: "JWT", Kid: kid}, claims)
	if err != nil {
		return "", err
	}
	digest := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("jwt: sign: %w", err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// signingInput returns the first two segments of a token: the part the
// signature covers.
func signingInput(h signHeader, claims map[string]any) (string, error) {
	if claims == nil {
		claims = map[string]any{} // not null, which Verify refuses
	}
	hdr, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("jwt: encode header: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("jwt: encode claims: %w", err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(hdr) + "." + enc.EncodeToString(payload), nil
}
