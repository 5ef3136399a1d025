package sdk

import "net/http"

// The host removes a caller's credentials (Authorization, Proxy-Authorization,
// Cookie, ticket parameters) before a plugin's handler runs, in either tier,
// and says instead who the caller is in these request headers. Any value a
// client sends for them is removed first, so a plugin can trust them.
const (
	// CallerHeaderPrefix starts every header only the host may set.
	CallerHeaderPrefix = "Ksplugins-Caller-"
	// CallerSubjectHeader names the caller: a token's name, a JWT's
	// subject, or "admin".
	CallerSubjectHeader = CallerHeaderPrefix + "Subject"
	// CallerRoleHeader is the caller's role: viewer, operator or admin.
	CallerRoleHeader = CallerHeaderPrefix + "Role"
	// CallerAuthHeader is how the caller proved who they are:
	// "admin-token", "token", "jwt" or "local".
	CallerAuthHeader = CallerHeaderPrefix + "Auth"
)

// Caller is who called a plugin endpoint, as the host authenticated them.
type Caller struct {
	// Subject is a token's name, a JWT's subject, or "admin".
	Subject string `json:"subject"`
	// Role is viewer, operator or admin.
	Role string `json:"role"`
	// Auth is how the caller proved it: "admin-token", "token", "jwt" or
	// "local".
	Auth string `json:"auth"`
}

// CallerOf returns who made r, and false for an anonymous caller or one
// whose credentials did not check out. Endpoints that must know declare
// auth in the manifest, so that the host refuses anonymous calls before
// the handler runs.
func CallerOf(r *http.Request) (Caller, bool) {
	c := Caller{
		Subject: r.Header.Get(CallerSubjectHeader),
		Role:    r.Header.Get(CallerRoleHeader),
		Auth:    r.Header.Get(CallerAuthHeader),
	}
	return c, c.Subject != "" && c.Role != ""
}
