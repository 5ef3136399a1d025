package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
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
	if c, _ := ctx.Value(callerKey{}).(*caller); c != nil {
		return *c
	}
	return caller{}
}

// callerContext is a request's context with what the host learned of the
// caller: context.WithValue's, made as part of admitted rather than on its
// own.
type callerContext struct {
	context.Context
	caller caller
}

// Value implements context.Context.
func (c *callerContext) Value(key any) any {
	if _, ok := key.(callerKey); ok {
		return &c.caller
	}
	return c.Context.Value(key)
}

// inlineValues is how many header values admitted holds without a second
// allocation: enough for most clients but browsers.
const inlineValues = 8

// admitted is what Admit makes for one request besides the request itself,
// in one allocation: each request path pays per allocation, not per byte.
type admitted struct {
	url    url.URL
	ctx    callerContext
	values [inlineValues]string
}

// Admit returns the request a plugin gets: a clone of r at path, the
// plugin's own path below base (where its endpoints are served), with the
// caller's credentials removed and, in their place, who the caller is, as
// the host found it (sdk.CallerOf reads it). Headers that only the host may
// set are removed first, whoever sent them.
func (g Gateway) Admit(r *http.Request, base, path string) *http.Request {
	a := new(admitted)
	c := &a.ctx.caller
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && bearer != "" {
		c.bearer = bearer
		c.who, c.err = g.b.Authenticate(r.Context(), bearer)
	}
	a.ctx.Context = r.Context()
	// A shallow copy, as Clone makes, with its own URL and header: the
	// plugin may change its request but not the server's.
	r2 := r.WithContext(&a.ctx)
	a.url = *r.URL
	r2.URL = &a.url
	if a.url.User != nil {
		u := *a.url.User
		a.url.User = &u
	}
	r2.Header = a.header(r.Header, c, strings.TrimSuffix(base, "/"))
	if r.Trailer != nil || r.TransferEncoding != nil || r.Form != nil || r.PostForm != nil || r.MultipartForm != nil {
		// Rare before anything has read the request: Clone's own copies.
		// (Path values set with SetPathValue stay shared: nothing
		// before the host sets any.)
		rc := r.Clone(r2.Context())
		r2.Trailer, r2.TransferEncoding, r2.Form, r2.PostForm, r2.MultipartForm = rc.Trailer, rc.TransferEncoding, rc.Form, rc.PostForm, rc.MultipartForm
	}
	if mayHoldParams(a.url.RawQuery) {
		q, stripped := a.url.Query(), false
		for _, k := range credentialParams {
			if q.Has(k) {
				q.Del(k)
				stripped = true
			}
		}
		if stripped { // else the query stays byte for byte as the caller sent it
			a.url.RawQuery = q.Encode()
		}
	}
	a.url.Path = path
	a.url.RawPath = ""
	return r2
}

// header is the plugin's copy of h: without the caller's credentials or
// any header only the host may set, with who the caller is when their
// token proved it, and with X-Forwarded-Prefix at prefix. Like
// http.Header.Clone, the values share one array, each entry's slice capped
// at its own values.
func (a *admitted) header(h http.Header, c *caller, prefix string) http.Header {
	proved := c.bearer != "" && c.err == nil
	keys, n := 1, 1 // X-Forwarded-Prefix
	if proved {
		keys, n = keys+3, n+3
	}
	for k, vv := range h {
		if !hostOnly(k) {
			keys++
			n += len(vv)
		}
	}
	values := a.values[:]
	if n > len(values) {
		values = make([]string, n)
	}
	h2 := make(http.Header, keys)
	for k, vv := range h {
		if hostOnly(k) {
			continue
		}
		if vv == nil {
			h2[k] = nil // as Clone keeps it
			continue
		}
		m := copy(values, vv)
		h2[k] = values[:m:m]
		values = values[m:]
	}
	set := func(k, v string) {
		values[0] = v
		h2[k] = values[:1:1]
		values = values[1:]
	}
	if proved {
		set(sdk.CallerSubjectHeader, c.who.Name)
		set(sdk.CallerRoleHeader, c.who.Role)
		set(sdk.CallerAuthHeader, c.who.Via)
	}
	// gin's trailing-slash redirect prefixes this header to the path it
	// redirects to, so /hello/ goes to the plugin's /hello, not the
	// server's. A caller's own value would send it anywhere.
	set(forwardedPrefixHeader, prefix)
	return h2
}

// forwardedPrefixHeader is X-Forwarded-Prefix, as a key of http.Header.
const forwardedPrefixHeader = "X-Forwarded-Prefix"

// hostOnly reports whether the request header k (in its canonical form,
// as http.Header keys are) is the caller's credential or one that only the
// host may set: the plugin never sees a caller's value for it.
func hostOnly(k string) bool {
	return slices.Contains(credentialHeaders[:], k) || strings.HasPrefix(k, sdk.CallerHeaderPrefix) || k == forwardedPrefixHeader
}

// mayHoldParams reports whether a raw query may hold one of
// credentialParams: a key can only decode to one if it spells it out or
// escapes some of its letters.
func mayHoldParams(rawQuery string) bool {
	if rawQuery == "" {
		return false
	}
	if strings.Contains(rawQuery, "%") {
		return true
	}
	return slices.ContainsFunc(credentialParams[:], func(k string) bool { return strings.Contains(rawQuery, k) })
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
	// policy holds the values of the policy headers, which the header
	// refers to rather than to slices of their own.
	policy [2]string
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
	for k := range h {
		if slices.Contains(answerHeadersDropped[:], k) || strings.HasPrefix(k, "Access-Control-") {
			delete(h, k)
		}
	}
	// A policy of the plugin's own stays: browsers enforce every policy
	// sent, so it can only narrow the sandbox. (The keys are canonical, as
	// Header.Add and Set would make them.)
	b.policy = [2]string{contentSecurityPolicy, "nosniff"}
	if csp := h["Content-Security-Policy"]; len(csp) > 0 {
		h["Content-Security-Policy"] = append(csp, contentSecurityPolicy)
	} else {
		h["Content-Security-Policy"] = b.policy[0:1:1]
	}
	h["X-Content-Type-Options"] = b.policy[1:2:2]
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

// Bearer returns the bearer token of the admitted request whose context
// (or a context derived from it) ctx is, or "" when it carried none: a
// plugin that calls another while serving a request passes the caller's
// token on, so that the other sees the same caller, no one more powerful.
func Bearer(ctx context.Context) string { return callerFrom(ctx).bearer }
