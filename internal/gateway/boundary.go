package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/kubestellar/ksplugins/internal/auth"
	"github.com/kubestellar/ksplugins/internal/store"
	"github.com/kubestellar/ksplugins/sdk"
)

// The boundary between a caller and a plugin. A plugin is not trusted with
// what callers prove themselves with, and its answers are not trusted to
// act as the server's own pages: everything here runs for both tiers,
// before any plugin code sees the request and after the plugin has chosen
// its headers.

// credentialHeaders are the request headers that carry a caller's secrets.
// The host reads them for its own guards and removes them before a plugin
// runs.
var credentialHeaders = [...]string{"Authorization", "Proxy-Authorization", "Cookie"}

// credentialParams are the query parameters that carry a caller's secrets:
// event stream tickets.
var credentialParams = [...]string{"ticket"}

// caller is what the host learned of a request's credentials, kept in its
// context for the endpoint guards once the headers are gone.
type caller struct {
	// bearer is the token the request carried, if any.
	bearer string
	// who is the identity the bearer proved; err why it proved none.
	who auth.Identity
	err error
}

type callerKey struct{}

// identity is who the caller proved to be, or why they proved nobody.
func (c caller) identity() (auth.Identity, error) {
	if c.bearer == "" {
		return auth.Identity{}, errors.New("no bearer token")
	}
	return c.who, c.err
}

func callerFrom(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// Admit returns the request a plugin gets: a clone of r at path, the
// plugin's own path below base (where its endpoints are served), with the
// caller's credentials removed and, in their place, who the caller is, as
// the host found it (sdk.CallerOf reads it). Headers that only the host may
// set are removed first, whoever sent them.
func (g Gateway) Admit(r *http.Request, base, path string) *http.Request {
	var c caller
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && bearer != "" {
		c.bearer = bearer
		c.who, c.err = g.b.Authenticate(r.Context(), bearer)
	}
	r2 := r.Clone(context.WithValue(r.Context(), callerKey{}, c))
	for _, k := range credentialHeaders {
		r2.Header.Del(k)
	}
	for k := range r2.Header {
		if strings.HasPrefix(k, sdk.CallerHeaderPrefix) {
			delete(r2.Header, k)
		}
	}
	q, stripped := r2.URL.Query(), false
	for _, k := range credentialParams {
		if q.Has(k) {
			q.Del(k)
			stripped = true
		}
	}
	if stripped { // else the query stays byte for byte as the caller sent it
		r2.URL.RawQuery = q.Encode()
	}
	if c.bearer != "" && c.err == nil {
		r2.Header.Set(sdk.CallerSubjectHeader, c.who.Name)
		r2.Header.Set(sdk.CallerRoleHeader, c.who.Role)
		r2.Header.Set(sdk.CallerAuthHeader, c.who.Via)
	}
	// gin's trailing-slash redirect prefixes this header to the path it
	// redirects to, so /hello/ goes to the plugin's /hello, not the
	// server's. A caller's own value would send it anywhere.
	r2.Header.Set("X-Forwarded-Prefix", strings.TrimSuffix(base, "/"))
	r2.URL.Path = path
	r2.URL.RawPath = ""
	return r2
}

// answerHeadersDropped are response headers a plugin may not send: they
// would act for the server's origin (cookies, cross-origin grants) or
// weaken the policy the host sets.
var answerHeadersDropped = [...]string{"Set-Cookie", "Set-Cookie2", "Content-Security-Policy-Report-Only"}

// contentSecurityPolicy gives whatever a plugin serves an opaque origin in
// a browser: a plugin's page cannot read the management page's storage or
// call the API with its token, even though both share the server's origin.
const contentSecurityPolicy = "sandbox"

// Writer is the http.ResponseWriter plugins write to. When the header is
// sent it removes what a plugin may not set and adds the host's policy. It
// offers Flush (streaming answers) but not Hijack: a plugin cannot take the
// connection and answer outside the policy.
type Writer struct {
	w   http.ResponseWriter
	ctx context.Context
	// status is what the plugin answered (200 when it only wrote a body).
	status int
}

// NewWriter returns the writer that answers on w, through the boundary, the
// request whose context is ctx.
func NewWriter(ctx context.Context, w http.ResponseWriter) *Writer {
	return &Writer{w: w, ctx: ctx}
}

// Status is the status answered, or 0 if nothing was.
func (b *Writer) Status() int { return b.status }

// Header implements http.ResponseWriter.
func (b *Writer) Header() http.Header { return b.w.Header() }

// WriteHeader implements http.ResponseWriter.
func (b *Writer) WriteHeader(status int) {
	if b.status == 0 {
		b.seal(status)
	}
	b.w.WriteHeader(status)
}

// Write implements http.ResponseWriter.
func (b *Writer) Write(p []byte) (int, error) {
	b.seal(http.StatusOK)
	return b.w.Write(p)
}

// Flush implements http.Flusher.
func (b *Writer) Flush() {
	b.seal(http.StatusOK)
	if f, ok := b.w.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack refuses: see Writer.
func (b *Writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return nil, nil, errors.New("plugin endpoints cannot take over the connection")
}

// CloseNotify implements the deprecated http.CloseNotifier that gin's
// streaming helpers still use, from the request's context.
func (b *Writer) CloseNotify() <-chan bool {
	ch := make(chan bool, 1)
	go func() {
		<-b.ctx.Done()
		ch <- true
	}()
	return ch
}

// seal applies the policy to the header once, before it is sent with
// status.
func (b *Writer) seal(status int) {
	if b.status != 0 {
		return
	}
	b.status = status
	h := b.w.Header()
	for _, k := range answerHeadersDropped {
		h.Del(k)
	}
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			delete(h, k)
		}
	}
	// A policy of the plugin's own stays: browsers enforce every policy
	// sent, so it can only narrow the sandbox.
	h.Add("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
}

// Audit records a call to plugin id's endpoints that may change state
// (every method but GET, HEAD and OPTIONS), with who made it. r is the
// request Admit returned.
func (g Gateway) Audit(r *http.Request, id string, status int) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	c := callerFrom(r.Context())
	actor, via := "anonymous", ""
	if c.bearer != "" && c.err == nil {
		actor, via = c.who.Name, c.who.Via
	}
	result := store.AuditResult(status)
	e := store.AuditEntry{Time: time.Now().UTC(), Actor: actor, Action: "plugin-endpoint", Target: id, Result: result, Status: status,
		Details: map[string]any{"method": r.Method, "path": r.URL.Path, "via": via}}
	// The request may be gone (a client that hung up): the record is not.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if err := g.b.AppendAudit(ctx, e); err != nil {
		return fmt.Errorf("audit %s %s of plugin %s: %w", r.Method, r.URL.Path, id, err)
	}
	return nil
}
