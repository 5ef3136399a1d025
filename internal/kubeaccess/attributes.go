// Package kubeaccess mediates a plugin's requests to Kubernetes: it resolves
// each request into what the API server will take it to be (verb, group,
// resource, namespace, name), allows it only when a rule granted to the
// plugin matches, and forwards it with the host's credentials, streaming the
// answer back. A plugin never holds a credential of a cluster.
//
// The package knows no plugin host: the host builds one Upstream per
// kubeconfig context and one Handler per plugin and context, and wires the
// Decision reports to its metrics and audit log.
package kubeaccess

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Attributes are what a request to the Kubernetes API means, resolved from
// its method, path and query exactly as the API server resolves them
// (k8s.io/apiserver's RequestInfoFactory), so that a rule is checked
// against what the server will do.
type Attributes struct {
	// ResourceRequest is false for a path outside the resource space, such
	// as /version, /openapi/v3 or the discovery documents /api and
	// /apis/apps/v1.
	ResourceRequest bool
	// Path is the request's path.
	Path string
	// Verb is get, list, watch, create, update, patch, delete,
	// deletecollection or proxy for a resource request, "" for a method
	// the API server gives no verb; the lower-case method for any other.
	Verb string
	// APIGroup is the API group, "" for the core group (/api/v1).
	APIGroup string
	// APIVersion is the group's version, such as v1.
	APIVersion string
	// Resource, Subresource, Namespace and Name are the parts of the path
	// (or, for a list or watch selecting one name, of its field selector);
	// Namespace is "" for a cluster-scoped request or a request across all
	// namespaces.
	Resource, Subresource, Namespace, Name string
}

// GroupResource is the resource as RBAC rules and the forbidden message
// spell it: "resource" or "resource/subresource".
func (a Attributes) GroupResource() string {
	if a.Subresource == "" {
		return a.Resource
	}
	return a.Resource + "/" + a.Subresource
}

// ErrPath is returned, wrapped, by Resolve for a path that the API server
// could read otherwise than this package (dot or empty segments, escaped
// characters) or that names no resource.
var ErrPath = errors.New("path not accepted")

// Resolve returns the Attributes of r, a request to the API server's path
// space (r.URL.Path starts at the server's root, as in /api/v1/pods).
//
// It refuses paths whose meaning might differ between this package and
// the server or a proxy in front of it: "." or ".." segments, empty
// segments, and escaped characters (a %2F inside a segment), none of which
// a Kubernetes client sends.
func Resolve(r *http.Request) (Attributes, error) {
	path := r.URL.Path
	if r.URL.RawPath != "" && r.URL.RawPath != path {
		return Attributes{}, fmt.Errorf("%w: %q has escaped characters", ErrPath, r.URL.EscapedPath())
	}
	if !strings.HasPrefix(path, "/") {
		return Attributes{}, fmt.Errorf("%w: %q is not absolute", ErrPath, path)
	}
	trimmed := strings.TrimSuffix(path[1:], "/") // a trailing slash is the same path to the server
	var parts []string
	if trimmed != "" {
		parts = strings.Split(trimmed, "/")
	}
	for _, p := range parts {
		if p == "" || p == "." || p == ".." {
			return Attributes{}, fmt.Errorf("%w: %q has an empty, . or .. segment", ErrPath, path)
		}
	}

	a := Attributes{Path: path, Verb: strings.ToLower(r.Method)}
	// The API server's prefixes: /api holds the core group only and so has
	// no group segment; /apis/<group>/<version>.
	if len(parts) < 3 || (parts[0] != "api" && parts[0] != "apis") {
		return a, nil
	}
	prefix := parts[0]
	parts = parts[1:]
	if prefix == "apis" {
		if len(parts) < 3 {
			return a, nil // /apis/<group>/<version>: discovery
		}
		a.APIGroup, parts = parts[0], parts[1:]
	}
	a.ResourceRequest = true
	a.APIVersion, parts = parts[0], parts[1:]

	// The legacy /watch/ and /proxy/ path prefixes give the verb.
	if parts[0] == "watch" || parts[0] == "proxy" {
		if len(parts) < 2 {
			return Attributes{}, fmt.Errorf("%w: %q names no resource", ErrPath, path)
		}
		a.Verb, parts = parts[0], parts[1:]
	} else {
		a.Verb = methodVerb(r.Method)
	}

	// /namespaces/<ns>/<resource>... is namespaced; /namespaces/<ns>,
	// /namespaces/<ns>/status and /namespaces/<ns>/finalize are the
	// namespace object itself (within its own namespace, as RBAC sees it).
	if parts[0] == "namespaces" && len(parts) > 1 {
		a.Namespace = parts[1]
		if len(parts) > 2 && parts[2] != "status" && parts[2] != "finalize" {
			parts = parts[2:]
		}
	}
	a.Resource = parts[0]
	if len(parts) >= 2 {
		a.Name = parts[1]
	}
	// Parts after the subresource (a proxy's path) are the subresource's
	// business; the legacy proxy verb has no subresource.
	if len(parts) >= 3 && a.Verb != "proxy" {
		a.Subresource = parts[2]
	}

	if a.Name == "" && a.Verb == "get" {
		q := r.URL.Query()
		a.Verb = "list"
		if w, ok := q["watch"]; ok && len(w) > 0 && w[0] != "0" && !strings.EqualFold(w[0], "false") {
			a.Verb = "watch"
		}
		a.Name = selectedName(q.Get("fieldSelector"))
	}
	if a.Name == "" && a.Verb == "delete" {
		a.Verb = "deletecollection"
	}
	return a, nil
}

// methodVerb is the API server's verb for a method on a resource path.
func methodVerb(method string) string {
	switch method {
	case http.MethodPost:
		return "create"
	case http.MethodGet, http.MethodHead:
		return "get"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		return "delete"
	}
	return ""
}

// selectedName returns the name a list or watch's field selector requires
// (metadata.name=x or metadata.name==x), as the API server takes it to
// authorize a list or watch of one object under a resourceNames rule: of
// the terms in sorted order, the first that requires one. The server's
// selector grammar has escapes; a selector that uses them yields no name
// here, so at worst a rule limited to names does not match.
func selectedName(selector string) string {
	if selector == "" || strings.Contains(selector, `\`) {
		return ""
	}
	terms := strings.Split(selector, ",")
	slices.Sort(terms)
	for _, term := range terms {
		rest, ok := strings.CutPrefix(term, "metadata.name")
		if !ok {
			continue
		}
		var value string
		switch {
		case strings.HasPrefix(rest, "=="):
			value = rest[2:]
		case strings.HasPrefix(rest, "="):
			value = rest[1:]
		default:
			continue // another field, or metadata.name!=x
		}
		if value == "" || value == "." || value == ".." || strings.ContainsAny(value, "/%=") {
			return "" // a name that cannot be a path segment: the server ignores it
		}
		return value
	}
	return ""
}
