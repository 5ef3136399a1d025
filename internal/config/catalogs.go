package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"strings"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/internal/policy"
)

// catalogName is what a catalog's name may be: it appears in entries and
// in the page's filters, so it stays a plain word.
var catalogName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// CatalogIsFile tells a catalog read from an https URL of its file (the
// location's path ends in .yaml or .yml) from one read from a repository.
func CatalogIsFile(location string) bool {
	u, err := url.Parse(location)
	if err != nil {
		return false
	}
	return strings.HasSuffix(u.Path, ".yaml") || strings.HasSuffix(u.Path, ".yml")
}

// validateCatalogs checks each catalog's name, location and keys.
func validateCatalogs(cs []apiv1.CatalogConfig) []manifest.Problem {
	var ps []manifest.Problem
	bad := func(field, format string, args ...any) {
		ps = append(ps, manifest.Problem{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	seen := map[string]bool{}
	for i, c := range cs {
		at := fmt.Sprintf("catalogs[%d]", i)
		switch {
		case !catalogName.MatchString(c.Name):
			bad(at+".name", "must be lowercase letters, digits, '.', '_' or '-' (at most 63); got %q", c.Name)
		case seen[c.Name]:
			bad(at+".name", "%q names another catalog too", c.Name)
		}
		seen[c.Name] = true
		if CatalogIsFile(c.Location) {
			if err := checkFileURL(c.Location); err != nil {
				bad(at+".location", "%v", err)
			}
		} else if _, err := policy.ParseRepo(c.Location); err != nil {
			bad(at+".location", "must be a repository URL or the https URL of a catalog.yaml: %v", err)
		}
		if p := c.Path; p != "" && (path.IsAbs(p) || path.Clean(p) != p || strings.HasPrefix(p, "..")) {
			bad(at+".path", "must be a file inside the repository, such as catalog.yaml; got %q", p)
		}
		if len(c.Keys) == 0 {
			bad(at+".keys", "must list at least one ed25519 public key: a catalog is trusted only as signed")
		}
		for j, k := range c.Keys {
			if _, err := policy.ParsePublicKey(k); err != nil {
				bad(fmt.Sprintf("%s.keys[%d]", at, j), "must be an ed25519 public key as ed25519:<base64 of 32 bytes>: %v", err)
			}
		}
	}
	return ps
}

// checkFileURL accepts https, and http to a loopback address only (a test
// or a local mirror), where the catalog cannot be read on the way.
func checkFileURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("must be an https URL without credentials; got %q", s)
	}
	if u.Scheme == "https" {
		return nil
	}
	if a, err := netip.ParseAddr(u.Hostname()); u.Scheme == "http" && (u.Hostname() == "localhost" || err == nil && a.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("must be an https URL (http only to a loopback address); got %q", s)
}
