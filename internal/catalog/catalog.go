// Package catalog reads plugin catalogs: signed indexes of plugins, each
// version pinned to its source (a repository at a commit, or an archive)
// by the digest a publisher signed. A catalog is a catalog.yaml with a
// detached catalog.yaml.sig beside it (the base64 ed25519 signature of the
// file's exact bytes); each version also carries the signature of its
// digest, so that what installs is what the publisher reviewed.
//
// The package parses, validates and verifies catalogs, computes a
// source's digest for publishers (see Digest), reads the catalogs a
// server is configured with and keeps them refreshed (see Service).
package catalog

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/Masterminds/semver/v3"
	"sigs.k8s.io/yaml"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/internal/policy"
)

// SigSuffix is appended to a catalog file's name to name its signature.
const SigSuffix = ".sig"

// File is a catalog.yaml.
type File struct {
	// Entries are the plugins it lists.
	Entries []Entry `json:"entries"`
}

// Entry is one plugin in a catalog file.
type Entry struct {
	ID          string                 `json:"id"`
	Name        string                 `json:"name"`
	Summary     string                 `json:"summary,omitempty"`
	Description string                 `json:"description,omitempty"`
	Categories  []string               `json:"categories,omitempty"`
	Icon        string                 `json:"icon,omitempty"`
	Publisher   string                 `json:"publisher,omitempty"`
	Homepage    string                 `json:"homepage,omitempty"`
	Versions    []apiv1.CatalogVersion `json:"versions"`
}

// Error is a catalog file with problems, each located at its field, such
// as entries[3].versions[0].digest.
type Error struct {
	Problems []manifest.Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return "catalog: " + b.String()
}

// SignatureError is a catalog file whose detached signature is missing or
// verifies against none of the catalog's keys.
type SignatureError struct {
	Reason string
}

func (e *SignatureError) Error() string { return "catalog signature: " + e.Reason }

// Parse reads a catalog file and checks its structure: every field known,
// every value of the right form. It does not require digests and
// signatures (a publisher's draft has none yet); Validate does.
func Parse(data []byte) (*File, error) {
	var f File
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, &Error{Problems: []manifest.Problem{{Field: "catalog.yaml", Message: err.Error()}}}
	}
	if ps := f.check(false, nil); len(ps) > 0 {
		return nil, &Error{Problems: ps}
	}
	return &f, nil
}

// Validate checks f whole, as a server accepts it: every version has a
// digest and a signature of it by one of keys.
func (f *File) Validate(keys []ed25519.PublicKey) error {
	if ps := f.check(true, keys); len(ps) > 0 {
		return &Error{Problems: ps}
	}
	return nil
}

// Marshal renders f as YAML.
func (f *File) Marshal() ([]byte, error) { return yaml.Marshal(f) }

var (
	hexCommit = regexp.MustCompile(`^[0-9a-f]{40}$`)
	category  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)
)

// check returns every problem of f; signed requires each version's digest
// and its signature by one of keys.
func (f *File) check(signed bool, keys []ed25519.PublicKey) []manifest.Problem {
	var ps []manifest.Problem
	bad := func(field, format string, args ...any) {
		ps = append(ps, manifest.Problem{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	ids := map[string]int{}
	for i, e := range f.Entries {
		at := fmt.Sprintf("entries[%d]", i)
		if p := manifest.ValidateID(at+".id", e.ID); p != nil {
			ps = append(ps, *p)
		} else if j, dup := ids[e.ID]; dup {
			bad(at+".id", "%q is entries[%d]'s id too", e.ID, j)
		}
		ids[e.ID] = i
		if strings.TrimSpace(e.Name) == "" {
			bad(at+".name", "is required")
		}
		if strings.ContainsAny(e.Summary, "\r\n") {
			bad(at+".summary", "must be one line")
		}
		for j, c := range e.Categories {
			if !category.MatchString(c) {
				bad(fmt.Sprintf("%s.categories[%d]", at, j), "must be lowercase letters, digits and '-' (at most 40); got %q", c)
			}
		}
		if e.Icon != "" && !strings.HasPrefix(e.Icon, "data:image/") && !isHTTPS(e.Icon) {
			bad(at+".icon", "must be an https URL or a data:image/ URL")
		}
		if e.Homepage != "" && !isHTTPS(e.Homepage) {
			bad(at+".homepage", "must be an https URL")
		}
		if len(e.Versions) == 0 {
			bad(at+".versions", "must list at least one version")
		}
		seen := map[string]int{}
		for j, v := range e.Versions {
			vat := fmt.Sprintf("%s.versions[%d]", at, j)
			ps = append(ps, checkVersion(vat, v, signed, keys)...)
			if sv, err := semver.StrictNewVersion(strings.TrimPrefix(v.Version, "v")); err == nil {
				if k, dup := seen[sv.String()]; dup {
					bad(vat+".version", "%s is versions[%d] too", v.Version, k)
				}
				seen[sv.String()] = j
			}
		}
	}
	return ps
}

// checkVersion returns the problems of one version, located under at.
func checkVersion(at string, v apiv1.CatalogVersion, signed bool, keys []ed25519.PublicKey) []manifest.Problem {
	var ps []manifest.Problem
	bad := func(field, format string, args ...any) {
		ps = append(ps, manifest.Problem{Field: at + "." + field, Message: fmt.Sprintf(format, args...)})
	}
	if _, err := semver.StrictNewVersion(strings.TrimPrefix(v.Version, "v")); err != nil {
		bad("version", "must be a semantic version such as 1.2.0: %v", err)
	}
	s := v.Source
	switch {
	case s.Repository != "" && s.Archive != "":
		bad("source", "must name a repository or an archive, not both")
	case s.Repository != "":
		if _, err := policy.ParseRepo(s.Repository); err != nil {
			bad("source.repository", "%v", err)
		}
		if !hexCommit.MatchString(s.Commit) {
			bad("source.commit", "must be a full commit SHA (40 lowercase hex digits); got %q", s.Commit)
		}
		if p := s.Path; p != "" && (strings.HasPrefix(p, "/") || strings.Contains(p, "..") || strings.Contains(p, "\\")) {
			bad("source.path", "must be a folder inside the repository; got %q", p)
		}
	case s.Archive != "":
		if !isHTTPS(s.Archive) && !isLoopbackHTTP(s.Archive) {
			bad("source.archive", "must be an https URL")
		}
		if s.Commit != "" || s.Path != "" {
			bad("source", "commit and path belong to a repository source, not an archive")
		}
	default:
		bad("source", "must name a repository and commit, or an archive URL")
	}
	if !v.Tier.Known() {
		bad("tier", "must be native, sandboxed or http-wasm; got %q", v.Tier)
	}
	for i, p := range v.Permissions {
		if strings.TrimSpace(p) == "" {
			bad(fmt.Sprintf("permissions[%d]", i), "must not be empty")
		}
	}
	ps = append(ps, manifest.ValidateKubernetes(at+".kubernetes", v.Kubernetes)...)
	if v.HostVersions != "" {
		if _, err := semver.NewConstraint(v.HostVersions); err != nil {
			bad("host_versions", "must be a version range such as >=0.1.0: %v", err)
		}
	}
	if v.Digest != "" || signed {
		if _, err := policy.ParseChecksum(v.Digest); err != nil {
			bad("digest", "%v", err)
		}
	}
	if signed {
		switch {
		case v.Signature == "":
			bad("signature", "is required: the base64 ed25519 signature of the digest by a catalog key")
		case !verifies(keys, []byte(v.Digest), v.Signature):
			bad("signature", "does not verify the digest against any of the catalog's %d keys", len(keys))
		}
	}
	return ps
}

// Verify checks sig, the content of a catalog.yaml.sig, over data against
// keys, and returns the parsed, validated catalog.
func Verify(data, sig []byte, keys []ed25519.PublicKey) (*File, error) {
	if len(keys) == 0 {
		return nil, &SignatureError{Reason: "the catalog has no keys configured"}
	}
	if !verifies(keys, data, strings.TrimSpace(string(sig))) {
		return nil, &SignatureError{Reason: fmt.Sprintf("catalog.yaml%s does not verify its bytes against any of the %d keys", SigSuffix, len(keys))}
	}
	f, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if err := f.Validate(keys); err != nil {
		return nil, err
	}
	return f, nil
}

// Sign returns the content of a catalog.yaml.sig for data.
func Sign(priv ed25519.PrivateKey, data []byte) []byte {
	return []byte(base64.StdEncoding.EncodeToString(ed25519.Sign(priv, data)) + "\n")
}

// ParseKeys parses keys in the "ed25519:<base64>" form.
func ParseKeys(keys []string) ([]ed25519.PublicKey, error) {
	out := make([]ed25519.PublicKey, 0, len(keys))
	for i, k := range keys {
		pub, err := policy.ParsePublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("keys[%d]: %w", i, err)
		}
		out = append(out, pub)
	}
	return out, nil
}

func verifies(keys []ed25519.PublicKey, msg []byte, sig string) bool {
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return false
	}
	for _, k := range keys {
		if ed25519.Verify(k, msg, raw) {
			return true
		}
	}
	return false
}

func isHTTPS(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil
}

// isLoopbackHTTP accepts plain http to a loopback address: a local mirror
// or a test server, where nothing can read or change it on the way.
func isLoopbackHTTP(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" {
		return false
	}
	h := u.Hostname()
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

// ErrNotFound is an id that no catalog lists, or a version its entry does
// not have.
var ErrNotFound = errors.New("not in the catalogs")
