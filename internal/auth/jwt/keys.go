package jwt

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// minRSABits is the smallest modulus RFC 7518 (section 3.3) allows for
// RS256. Smaller keys are refused when loaded rather than trusted quietly.
const minRSABits = 2048

// LoadRSAPublicKeyPEM returns the RSA public key in the first usable PEM
// block of data: a "PUBLIC KEY" (PKIX), an "RSA PUBLIC KEY" (PKCS #1) or a
// "CERTIFICATE", whichever the issuer publishes. Blocks of other types are
// skipped. A certificate only carries the key: its validity period and
// chain are not checked.
func LoadRSAPublicKeyPEM(data []byte) (*rsa.PublicKey, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("jwt: no PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE PEM block")
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "PUBLIC KEY":
			key, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			key, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			cert, err = x509.ParseCertificate(block.Bytes)
			if err == nil {
				key = cert.PublicKey
			}
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("jwt: parse %s: %w", block.Type, err)
		}
		pub, ok := key.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("jwt: %s holds a %T, not an RSA key", block.Type, key)
		}
		if err := checkRSAKey(pub); err != nil {
			return nil, err
		}
		return pub, nil
	}
}

// jwk is the part of a JSON Web Key (RFC 7517) LoadJWKS looks at.
type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// LoadJWKS returns the RS256 signing keys of a JWKS document, as published
// at an issuer's jwks_uri, keyed by kid (a key without a kid goes under "",
// where Verify looks for tokens without one). Keys of other types or for
// other uses or algorithms are skipped, so a document that also lists EC or
// encryption keys loads; but a malformed RSA key, a repeated kid, or a
// document without any usable key is an error, since each would make
// Verify refuse tokens the issuer considers good.
func LoadJWKS(data []byte) (map[string]*rsa.PublicKey, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("jwt: parse JWKS: %w", err)
	}
	keys := make(map[string]*rsa.PublicKey)
	for _, k := range doc.Keys {
		if k.Kty != "RSA" || (k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != "RS256") {
			continue
		}
		if _, dup := keys[k.Kid]; dup {
			return nil, fmt.Errorf("jwt: JWKS has more than one RS256 key with kid %q", k.Kid)
		}
		pub, err := rsaKeyFromJWK(k)
		if err != nil {
			return nil, fmt.Errorf("jwt: JWKS key %q: %w", k.Kid, err)
		}
		keys[k.Kid] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("jwt: JWKS has no RS256 signing key")
	}
	return keys, nil
}

// rsaKeyFromJWK decodes the modulus and exponent of an RSA JWK, which RFC
// 7518 (section 6.3.1) encodes as unpadded base64url big-endian integers.
func rsaKeyFromJWK(k jwk) (*rsa.PublicKey, error) {
	// Some issuers pad anyway; the padding carries no information.
	n, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.N, "="))
	if err != nil || len(n) == 0 {
		return nil, errors.New(`bad modulus "n"`)
	}
	e, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.E, "="))
	if err != nil || len(e) == 0 {
		return nil, errors.New(`bad exponent "e"`)
	}
	exp := new(big.Int).SetBytes(e)
	if !exp.IsInt64() || exp.Int64() > 1<<31-1 {
		return nil, errors.New(`exponent "e" too large`)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp.Int64())}
	if err := checkRSAKey(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// checkRSAKey refuses keys that are too small for RS256 or that crypto/rsa
// would refuse anyway, so that the problem shows when keys are loaded rather
// than as bad signatures later.
func checkRSAKey(pub *rsa.PublicKey) error {
	if bits := pub.N.BitLen(); bits < minRSABits {
		return fmt.Errorf("jwt: %d-bit RSA key is too small: RS256 needs at least %d bits", bits, minRSABits)
	}
	if pub.N.Bit(0) == 0 {
		return errors.New("jwt: RSA modulus is even")
	}
	if pub.E < 3 || pub.E%2 == 0 {
		return fmt.Errorf("jwt: bad RSA public exponent %d", pub.E)
	}
	return nil
}
