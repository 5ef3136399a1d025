package abi

import (
	"net/url"
	"strings"
)

// IsWatch reports whether a Kubernetes API request for u may be answered
// with a stream that never ends: a watch query parameter other than "0"
// or "false" (in any case), as the API server reads it, or the legacy
// watch segment after the API version (/api/v1/watch/...,
// /apis/<group>/<version>/watch/...). The guest opens such a request with
// http_open, and the host's http_do, which buffers the answer, refuses
// it, so the two must agree; every request the host's mediation resolves
// to the verb watch is one.
func IsWatch(u *url.URL) bool {
	if w, ok := u.Query()["watch"]; ok && len(w) > 0 && w[0] != "0" && !strings.EqualFold(w[0], "false") {
		return true
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	switch {
	case len(parts) > 2 && parts[0] == "api":
		return parts[2] == "watch"
	case len(parts) > 3 && parts[0] == "apis":
		return parts[3] == "watch"
	}
	return false
}
