package install

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/kubestellar/ksplugins/internal/policy"
)

func TestPinCheck(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	other := "sha256:" + strings.Repeat("cd", 32)
	key := policy.EncodePublicKey(pub)
	tests := []struct {
		name     string
		pin      *Pin
		got      string
		mismatch bool
		signedBy bool
	}{
		{name: "no pin", got: other},
		{name: "same digest, signed by the catalog key", pin: &Pin{Catalog: "main", Digest: digest, Signature: policy.Sign(priv, digest), Keys: []string{key}}, got: digest, signedBy: true},
		{name: "malformed pinned digest", pin: &Pin{Catalog: "main", Digest: strings.ToUpper(digest[7:]), Keys: []string{key}}, got: digest, mismatch: true},
		{name: "source changed after signing", pin: &Pin{Catalog: "main", Digest: digest, Signature: policy.Sign(priv, digest), Keys: []string{key}}, got: other, mismatch: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := policy.Policy{Mode: "strict", TrustedKeys: []string{}}
			ev, pol, err := tt.pin.check(policy.Evidence{Digest: tt.got}, base)
			var dm *DigestMismatchError
			if tt.mismatch != (err != nil) {
				t.Fatalf("check: %v, want mismatch %v", err, tt.mismatch)
			}
			if err != nil {
				if tt.pin.Digest != "" && strings.HasPrefix(tt.pin.Digest, "sha256:") && !errors.As(err, &dm) {
					t.Fatalf("check: %v, want a *DigestMismatchError", err)
				}
				return
			}
			if len(base.TrustedKeys) != 0 {
				t.Fatal("check added the catalog's keys to the caller's policy")
			}
			by, _, err := pol.CheckIntegrity(ev)
			if tt.signedBy != (by != "") || (tt.signedBy && err != nil) {
				t.Fatalf("CheckIntegrity: signed by %q, %v", by, err)
			}
		})
	}
}
