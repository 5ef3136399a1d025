package policy

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// keyPrefix marks an ed25519 public key in TrustedKeys and in signedBy.
const keyPrefix = "ed25519:"

// Evidence is what came with an install, for CheckIntegrity to judge.
type Evidence struct {
	// Digest is "sha256:<hex>" of the archive or artifact, computed by the
	// host. It is what checksums are compared with and what signatures
	// sign, so it may be "" only when neither is given and the mode is not
	// strict.
	Digest string
	// Checksum is the expected "sha256:<hex>", from the request or the
	// manifest, or "" if none was given.
	Checksum string
	// Signature is the standard base64 of an ed25519 signature over the
	// bytes of Digest (as ParseChecksum normalises it), or "" if none.
	Signature string
}

// CheckIntegrity applies the mode's checksum and signature rules to e.
//
// Strict mode requires a signature that verifies against a trusted key
// (RuleSignatureRequired when none is given, RuleSignature when it does not
// verify) and refuses a given checksum that is malformed or does not match
// (RuleChecksum). Normal mode requires neither, but refuses a checksum or
// signature that is given and fails; checksums are checked only when
// ValidateChecksums is set. Permissive mode reports every failure as a
// warning.
//
// On success signedBy names the trusted key that signed, as
// "ed25519:<first 8 base64 characters of the key>", or is "" when nothing
// verified. An error that is not a *Refusal means the caller passed an
// invalid Digest.
func (p Policy) CheckIntegrity(e Evidence) (signedBy string, warnings []string, err error) {
	mode := p.mode()
	v := p.verdict()
	var digest string
	if e.Digest != "" || e.Checksum != "" || e.Signature != "" || mode == ModeStrict {
		if digest, err = ParseChecksum(e.Digest); err != nil {
			return "", nil, fmt.Errorf("policy: invalid artifact digest: %w", err)
		}
	}

	if e.Checksum != "" {
		if mode != ModeStrict && !p.ValidateChecksums {
			v.warn(RuleChecksum, "%q was not verified because validate_checksums is off", e.Checksum)
		} else if want, err := ParseChecksum(e.Checksum); err != nil {
			if err := v.breach(RuleChecksum, "expected checksum is malformed: %v", err); err != nil {
				return "", nil, err
			}
		} else if want != digest {
			if err := v.breach(RuleChecksum, "the artifact's digest is %s, but %s was expected", digest, want); err != nil {
				return "", nil, err
			}
		}
	}

	if e.Signature != "" {
		keys, bad := p.trustedKeys()
		if bad > 0 {
			v.warn(RuleSignature, "%d of the %d trusted keys are malformed and were ignored", bad, len(p.TrustedKeys))
		}
		by, problem := verify(keys, digest, e.Signature)
		if problem != "" {
			if err := v.breach(RuleSignature, "%s", problem); err != nil {
				return "", nil, err
			}
		}
		signedBy = by
	} else if mode == ModeStrict {
		return "", nil, &Refusal{Rule: RuleSignatureRequired, Message: "strict mode requires a signature by a trusted key, and none was given"}
	}
	return signedBy, v.warnings, nil
}

// verify checks sig (standard base64) over digest against keys. It returns
// the signing key's ID, or a description of why nothing verified.
func verify(keys []ed25519.PublicKey, digest, sig string) (signedBy, problem string) {
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return "", fmt.Sprintf("the signature is not the base64 of a %d-byte ed25519 signature", ed25519.SignatureSize)
	}
	if len(keys) == 0 {
		return "", "no trusted keys are configured, so the signature cannot be verified"
	}
	for _, k := range keys {
		if ed25519.Verify(k, []byte(digest), raw) {
			return keyID(k), ""
		}
	}
	return "", fmt.Sprintf("the signature over %s does not verify against any of the %d trusted keys", digest, len(keys))
}

// trustedKeys parses TrustedKeys, counting the malformed ones.
func (p Policy) trustedKeys() (keys []ed25519.PublicKey, bad int) {
	for _, s := range p.TrustedKeys {
		k, err := ParsePublicKey(s)
		if err != nil {
			bad++
			continue
		}
		keys = append(keys, k)
	}
	return keys, bad
}

// keyID is the short name of a key reported as signedBy: enough to tell
// configured keys apart in logs without printing them whole.
func keyID(pub ed25519.PublicKey) string {
	return keyPrefix + base64.StdEncoding.EncodeToString(pub)[:8]
}

// ParseChecksum validates a checksum or digest written "sha256:<64 hex
// digits>" and returns it with the hex in lowercase, the one form that is
// compared and signed. Uppercase hex is accepted because tools print both.
func ParseChecksum(s string) (string, error) {
	algo, digits, ok := strings.Cut(s, ":")
	if !ok {
		return "", fmt.Errorf("checksum %q: want sha256:<64 hex digits>", s)
	}
	if algo != "sha256" {
		return "", fmt.Errorf("checksum %q: unsupported algorithm %q; want sha256", s, algo)
	}
	if len(digits) != 64 {
		return "", fmt.Errorf("checksum %q: has %d hex digits; want 64", s, len(digits))
	}
	b, err := hex.DecodeString(digits)
	if err != nil {
		return "", fmt.Errorf("checksum %q: not hexadecimal", s)
	}
	return "sha256:" + hex.EncodeToString(b), nil
}

// ParsePublicKey parses a key in the TrustedKeys format: standard base64 of
// the 32 raw key bytes, optionally prefixed "ed25519:". Configuration
// validation can use it to reject keys that CheckIntegrity would ignore.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, keyPrefix))
	if err != nil {
		return nil, errors.New("ed25519 public key is not standard base64")
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("ed25519 public key has %d bytes; want %d", len(raw), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}

// Sign returns the standard base64 ed25519 signature of digest with priv,
// the form Evidence.Signature takes. It signs the bytes of digest exactly,
// so pass the normalised form ParseChecksum returns. It is a helper for
// release tools and tests; the host itself never signs.
func Sign(priv ed25519.PrivateKey, digest string) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(digest)))
}

// EncodePublicKey renders pub in the TrustedKeys format, "ed25519:" followed
// by the standard base64 of the key.
func EncodePublicKey(pub ed25519.PublicKey) string {
	return keyPrefix + base64.StdEncoding.EncodeToString(pub)
}
