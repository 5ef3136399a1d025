package v1

import "time"

// Token is a named token, without its secret.
type Token struct {
	// Name names the token; it is the identity of its callers.
	Name string `json:"name"`
	// Role is viewer, operator or admin.
	Role string `json:"role"`
	// CreatedAt is when the token was made.
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is when it stops being good; absent: never.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// RevokedAt is when it was revoked, if it was.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// TokenList answers GET /api/plugins/tokens.
type TokenList struct {
	// Tokens are every named token.
	Tokens []Token `json:"tokens"`
}

// TokenRequest is the body of POST /api/plugins/tokens.
type TokenRequest struct {
	// Name names the new token.
	Name string `json:"name"`
	// Role is viewer, operator or admin.
	Role string `json:"role"`
	// TTL is a Go duration such as "720h"; empty: no expiry.
	TTL string `json:"ttl"`
}

// CreatedToken answers POST /api/plugins/tokens. The secret is in this
// answer only.
type CreatedToken struct {
	// Token is the new token.
	Token Token `json:"token"`
	// Secret is what callers send as their bearer token.
	Secret string `json:"secret"`
}

// RevokedToken answers DELETE /api/plugins/tokens/{name}.
type RevokedToken struct {
	// Name names the token revoked.
	Name string `json:"name"`
	// Revoked is always true.
	Revoked bool `json:"revoked"`
}

// AuditEntry is one management action: who did what, when, and how it
// ended.
type AuditEntry struct {
	// ID orders entries.
	ID int64 `json:"id"`
	// Time is when the action ended.
	Time time.Time `json:"time"`
	// Actor is who acted, "anonymous" when nobody authenticated.
	Actor string `json:"actor"`
	// Action is the route's name, such as "load" or "token-revoke".
	Action string `json:"action"`
	// Target is the plugin or token acted on, if any.
	Target string `json:"target,omitempty"`
	// Result is "ok", "denied" or "error".
	Result string `json:"result"`
	// Status is the HTTP status answered.
	Status int `json:"status"`
	// Details holds extras such as the request's path and how the caller
	// authenticated.
	Details map[string]any `json:"details,omitempty"`
}

// AuditLog answers GET /api/plugins/audit.
type AuditLog struct {
	// Entries are the entries asked for, oldest first.
	Entries []AuditEntry `json:"entries"`
}
