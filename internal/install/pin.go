package install

import (
	"fmt"
	"slices"

	"github.com/kubestellar/ksplugins/internal/policy"
)

// Pin is what a catalog recorded of the version being installed: the
// digest its publisher signed, that signature, and the catalog's keys. An
// install or update with a Pin refuses a source whose digest differs, and
// accepts the signature by the catalog's keys as by trusted keys.
type Pin struct {
	// Catalog names the catalog, for messages.
	Catalog string
	// ID is the catalog entry's id: the plugin's manifest must say it.
	ID string
	// Digest is "sha256:<hex>" of the source, as the catalog lists it.
	Digest string
	// Signature is the base64 ed25519 signature of Digest.
	Signature string
	// Keys are the catalog's keys ("ed25519:<base64>").
	Keys []string
}

// DigestMismatchError is a source whose digest is not the one its catalog
// recorded: it changed after the publisher signed it.
type DigestMismatchError struct {
	Catalog, Want, Got string
}

func (e *DigestMismatchError) Error() string {
	return fmt.Sprintf("the source's digest is %s, but catalog %s recorded %s: it changed after the catalog was signed", e.Got, e.Catalog, e.Want)
}

// check refuses a digest other than the pinned one, and returns the
// evidence and policy that verify the pin's signature.
func (p *Pin) check(ev policy.Evidence, pol policy.Policy) (policy.Evidence, policy.Policy, error) {
	if p == nil {
		return ev, pol, nil
	}
	want, err := policy.ParseChecksum(p.Digest)
	if err != nil {
		return ev, pol, fmt.Errorf("catalog %s: %w", p.Catalog, err)
	}
	if got, err := policy.ParseChecksum(ev.Digest); err != nil || got != want {
		return ev, pol, &DigestMismatchError{Catalog: p.Catalog, Want: want, Got: ev.Digest}
	}
	ev.Digest, ev.Signature = want, p.Signature
	pol.TrustedKeys = append(slices.Clone(pol.TrustedKeys), p.Keys...)
	return ev, pol, nil
}
