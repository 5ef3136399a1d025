package api

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
	"github.com/kubestellar/ksplugins/internal/apierr"
	"github.com/kubestellar/ksplugins/internal/auth"
	"github.com/kubestellar/ksplugins/internal/host"
	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/internal/store"
)

// route is one management route: what it does, who may use it, and what it
// reads and answers. The table of them is the one description of the
// management API: the router serves it, whoami reports it, and the OpenAPI
// document is made from it, so none of them can drift from the others.
type route struct {
	method, path string
	// action names the route in audit records and errors, and is its
	// operationId in the OpenAPI document.
	action  string
	role    string
	handler gin.HandlerFunc
	// summary says what the route does, in the OpenAPI document.
	summary string
	// query lists the query parameters the route reads.
	query []param
	// body is what the route reads; nil for nothing.
	body *body
	// answers are the route's successful responses; its errors are
	// always an apiv1.ErrorBody.
	answers []answer
}

// param is a query parameter.
type param struct{ name, doc string }

// body is a request body: the Go type it decodes into, its content type,
// and whether it is decoded strictly (unknown fields refused, as every
// JSON body is).
type body struct {
	typ         reflect.Type
	contentType string
	strict      bool
}

// answer is one successful response: its status, the Go type the handler
// encodes (nil for a body that no Go type describes), its content type,
// and when it is given.
type answer struct {
	status      int
	typ         reflect.Type
	contentType string
	doc         string
}

const jsonContent = "application/json"

// takes is a JSON request body of type T.
func takes[T any]() *body {
	return &body{typ: reflect.TypeFor[T](), contentType: jsonContent, strict: true}
}

// replies is a JSON response of type T.
func replies[T any](status int, doc string) answer {
	return answer{status: status, typ: reflect.TypeFor[T](), contentType: jsonContent, doc: doc}
}

// routes is the management API, under /api/plugins. Every route names its
// role: a route cannot be added without deciding who may use it.
func (s *Server) routes() []route {
	return []route{
		{method: "GET", path: "", action: "list", role: auth.Viewer, handler: s.list,
			summary: "List every installed plugin",
			answers: []answer{replies[apiv1.PluginList](200, "every plugin")}},
		{method: "POST", path: "/load", action: "load", role: auth.Admin, handler: s.load,
			summary: "Install a plugin from a repository, a folder or .so file on the server, or an earlier upload",
			query:   []param{{"async", "true: answer 202 with the install's operation at once"}},
			body:    takes[apiv1.LoadRequest](),
			answers: []answer{
				replies[apiv1.Plugin](201, "installed and serving"),
				replies[apiv1.Operation](202, "with ?async=true: the install's operation, also at the Location header"),
			}},
		{method: "POST", path: "/upload", action: "upload", role: auth.Admin, handler: s.upload,
			summary: "Upload a plugin archive (.zip or .tar.gz) and install it, or keep it for a later load",
			query: []param{
				{"install", "false: keep the archive and answer the upload, to install later with load's upload_id"},
				{"async", "true: answer 202 with the install's operation once the archive is received"},
			},
			body: &body{typ: reflect.TypeFor[apiv1.UploadForm](), contentType: "multipart/form-data"},
			answers: []answer{
				replies[apiv1.Plugin](201, "installed and serving"),
				replies[apiv1.Upload](201, "with ?install=false: the stored upload"),
				replies[apiv1.Operation](202, "with ?async=true: the install's operation"),
			}},
		{method: "GET", path: "/manifest-schema", action: "manifest-schema", role: auth.Viewer,
			handler: func(c *gin.Context) { c.Data(http.StatusOK, "application/schema+json", manifest.Schema()) },
			summary: "The JSON Schema of plugin.yaml",
			answers: []answer{{status: 200, contentType: "application/schema+json", doc: "a JSON Schema (2020-12)"}}},
		{method: "GET", path: "/openapi.json", action: "openapi", role: auth.Viewer, handler: s.openAPIDocument,
			summary: "This document: the OpenAPI description of the management API",
			answers: []answer{{status: 200, contentType: jsonContent, doc: "an OpenAPI 3.1 document"}}},
		{method: "GET", path: "/events", action: "events", role: auth.Viewer, handler: s.streamEvents,
			summary: "Follow the event stream, or list recent events",
			query: []param{
				{"since", "an event id or an RFC 3339 time: list the events after it as JSON instead of streaming"},
				{"plugin_id", "only the events about this plugin"},
				{"last_event_id", "resume the stream after this event id (the Last-Event-ID header wins)"},
				{ticketParam, "a ticket from POST /api/plugins/events/ticket, instead of the Authorization header"},
			},
			answers: []answer{
				{status: 200, contentType: "text/event-stream", doc: "Server-Sent Events: each event's data is an Event; an event of type reset says events were missed"},
				replies[apiv1.EventList](200, "with ?since=: the recent events"),
			}},
		{method: "POST", path: "/events/ticket", action: "events-ticket", role: auth.Viewer, handler: s.issueTicket,
			summary: "A single-use ticket that opens the event stream without a header (for EventSource)",
			answers: []answer{replies[apiv1.Ticket](201, "the ticket")}},
		{method: "GET", path: "/operations/:op", action: "operation", role: auth.Viewer, handler: s.operation,
			summary: "A recent install or update: its steps, warnings, and result or error",
			answers: []answer{replies[apiv1.Operation](200, "the operation")}},
		{method: "GET", path: "/system/warm-up", action: "warm-up", role: auth.Viewer, handler: s.warmUp,
			summary: "The warm-up that readies the sandboxed tier after a start: off, waiting, or its operation (kind warm-up)",
			answers: []answer{replies[apiv1.WarmUp](200, "the warm-up")}},
		{method: "GET", path: "/cache/info", action: "cache-info", role: auth.Viewer, handler: s.cacheInfo,
			summary: "The build cache's size and counters",
			answers: []answer{replies[apiv1.CacheReport](200, "the build cache")}},
		{method: "DELETE", path: "/cache", action: "cache-purge", role: auth.Admin, handler: s.purgeCache,
			summary: "Remove every cached build that no installed plugin needs",
			answers: []answer{replies[apiv1.CachePurge](200, "what was removed")}},
		{method: "GET", path: "/health/summary", action: "health-summary", role: auth.Viewer,
			handler: func(c *gin.Context) { c.JSON(http.StatusOK, s.host.HealthSummary()) },
			summary: "Every plugin's health",
			answers: []answer{replies[apiv1.HealthSummary](200, "counts by status and each plugin's health")}},
		{method: "GET", path: "/permissions", action: "permissions", role: auth.Viewer, handler: s.permissions,
			summary: "The permissions plugins may be granted",
			answers: []answer{replies[apiv1.PermissionList](200, "every permission")}},
		{method: "GET", path: "/audit", action: "audit", role: auth.Admin, handler: s.auditLog,
			summary: "Who did what, when, with what result",
			query: []param{
				{"after", "only entries after this id"},
				{"limit", "at most this many entries (default 100)"},
				{"actor", "only this actor's entries"},
				{"target", "only the entries about this plugin or token"},
			},
			answers: []answer{replies[apiv1.AuditLog](200, "the entries, oldest first")}},
		{method: "GET", path: "/tokens", action: "tokens", role: auth.Admin, handler: s.listTokens,
			summary: "The named tokens, without their secrets",
			answers: []answer{replies[apiv1.TokenList](200, "every named token")}},
		{method: "POST", path: "/tokens", action: "token-create", role: auth.Admin, handler: s.createToken,
			summary: "Make a named token with a role; its secret is in this answer only",
			body:    takes[apiv1.TokenRequest](),
			answers: []answer{replies[apiv1.CreatedToken](201, "the token and its secret")}},
		{method: "DELETE", path: "/tokens/:name", action: "token-revoke", role: auth.Admin, handler: s.revokeToken,
			summary: "Revoke a named token",
			answers: []answer{replies[apiv1.RevokedToken](200, "revoked")}},
		{method: "GET", path: "/whoami", action: "whoami", role: auth.Viewer, handler: s.whoami,
			summary: "The caller's identity, role, and the actions it allows",
			answers: []answer{replies[apiv1.Whoami](200, "the caller")}},
		{method: "GET", path: "/system/metrics", action: "system-metrics", role: auth.Viewer, handler: s.systemMetrics,
			summary: "Plugin counts, request and error totals, each plugin's GetMetrics(), process figures",
			answers: []answer{replies[apiv1.SystemMetrics](200, "the figures")}},
		{method: "GET", path: "/system/configuration", action: "configuration", role: auth.Viewer, handler: s.getConfiguration,
			summary: "The live configuration, secrets redacted",
			answers: []answer{replies[apiv1.SystemConfig](200, "the configuration")}},
		{method: "PUT", path: "/system/configuration", action: "configure-system", role: auth.Admin, handler: s.putConfiguration,
			summary: "Merge the body into the live configuration; nothing changes when a field is wrong",
			body:    takes[apiv1.SystemConfig](),
			answers: []answer{replies[apiv1.SystemConfig](200, "the configuration now, secrets redacted")}},
		{method: "GET", path: "/catalog", action: "catalog", role: auth.Viewer, handler: s.catalogList,
			summary: "Search the plugin catalogs: entries that match, whether each is installed and has an update",
			query: []param{
				{"q", "words that must all appear in the id, name, summary, publisher or categories"},
				{"category", "only entries in this category"},
				{"tier", "only entries with a version of this tier: native, sandboxed or http-wasm"},
				{"page", "the page, from 1"},
				{"per_page", "entries a page, 1 to 100 (default 20)"},
			},
			answers: []answer{replies[apiv1.CatalogList](200, "the page, the categories and the catalogs' statuses")}},
		{method: "POST", path: "/catalog/refresh", action: "catalog-refresh", role: auth.Admin, handler: s.catalogRefresh,
			summary: "Read every configured catalog again now; a catalog that does not verify is refused whole",
			answers: []answer{replies[apiv1.CatalogRefresh](200, "the catalogs' statuses")}},
		{method: "GET", path: "/catalog/:id", action: "catalog-entry", role: auth.Viewer, handler: s.catalogGet,
			summary: "One catalog entry, with its description and every version",
			answers: []answer{replies[apiv1.CatalogEntry](200, "the entry")}},
		{method: "POST", path: "/catalog/:id/install", action: "catalog-install", role: auth.Admin, handler: s.catalogInstall,
			summary: "Install a catalog entry's version (the latest by default); a source whose digest is not the catalog's is refused",
			query:   []param{{"async", "true: answer 202 with the install's operation at once"}},
			body:    takes[apiv1.CatalogInstallRequest](),
			answers: []answer{
				replies[apiv1.Plugin](201, "installed and serving"),
				replies[apiv1.Operation](202, "with ?async=true: the install's operation, also at the Location header"),
			}},
		{method: "POST", path: "/catalog/:id/update", action: "catalog-update", role: auth.Admin, handler: s.catalogUpdate,
			summary: "Update an installed plugin to a catalog entry's version (the latest by default), pinned to the catalog's digest",
			query:   []param{{"async", "true: answer 202 with the update's operation at once"}},
			body:    takes[apiv1.CatalogInstallRequest](),
			answers: []answer{
				replies[apiv1.Plugin](200, "the plugin, updated"),
				replies[apiv1.Operation](202, "with ?async=true: the update's operation, also at the Location header"),
			}},
		{method: "GET", path: "/:id", action: "get", role: auth.Viewer, handler: s.get,
			summary: "One plugin",
			answers: []answer{replies[apiv1.Plugin](200, "the plugin")}},
		{method: "DELETE", path: "/:id", action: "unload", role: auth.Admin, handler: s.unload,
			summary: "Unload a plugin; one that others depend on only with ?force=true (409 has_dependants otherwise)",
			query:   []param{{"force", "true: unload it even when other plugins depend on it; they run on, degraded"}},
			answers: []answer{replies[apiv1.Unloaded](200, "unloaded")}},
		{method: "POST", path: "/:id/reload", action: "reload", role: auth.Operator, handler: s.reload,
			summary: "Load the plugin's source again and swap it in; on failure the old version keeps serving",
			answers: []answer{replies[apiv1.Plugin](200, "the plugin, reloaded")}},
		{method: "POST", path: "/:id/update", action: "update", role: auth.Admin, handler: s.update,
			summary: "Install another version of a repository plugin beside the running one and switch once it is healthy",
			body:    takes[apiv1.UpdateRequest](),
			answers: []answer{replies[apiv1.Plugin](200, "the plugin, updated")}},
		{method: "POST", path: "/:id/enable", action: "enable", role: auth.Operator, handler: s.enable,
			summary: "Enable a plugin",
			answers: []answer{replies[apiv1.Plugin](200, "the plugin")}},
		{method: "POST", path: "/:id/disable", action: "disable", role: auth.Operator, handler: s.disable,
			summary: "Disable a plugin: it stays loaded and its endpoints answer 503; one that others depend on only with ?force=true (409 has_dependants otherwise)",
			query:   []param{{"force", "true: disable it even when other plugins depend on it; they run on, degraded"}},
			answers: []answer{replies[apiv1.Plugin](200, "the plugin")}},
		{method: "GET", path: "/:id/status", action: "status", role: auth.Viewer, handler: s.status,
			summary: "The plugin's GetStatus() with the host's state and counters",
			answers: []answer{replies[apiv1.PluginReport](200, "the status")}},
		{method: "GET", path: "/:id/metrics", action: "plugin-metrics", role: auth.Viewer, handler: s.pluginMetrics,
			summary: "The plugin's recent traffic samples and its counters now",
			answers: []answer{replies[apiv1.MetricsHistory](200, "the samples")}},
		{method: "GET", path: "/:id/configuration", action: "plugin-configuration", role: auth.Viewer, handler: s.pluginConfiguration,
			summary: "The plugin's effective configuration",
			answers: []answer{replies[apiv1.PluginConfig](200, "the configuration")}},
		{method: "PUT", path: "/:id/configuration", action: "configure", role: auth.Operator, handler: s.putPluginConfiguration,
			summary: "Set the operator's values over the manifest's defaults, checked against them",
			body:    takes[apiv1.ConfigValues](),
			answers: []answer{replies[apiv1.PluginConfig](200, "the effective configuration")}},
	}
}

// authenticate establishes who is calling; on failure it answers 401.
func (s *Server) authenticate(c *gin.Context) {
	if s.insecureLocal {
		c.Request = c.Request.WithContext(auth.WithIdentity(host.WithActor(c.Request.Context(), "local"), auth.Identity{Name: "local", Role: auth.Admin, Via: "local"}))
		c.Next()
		return
	}
	bearer, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !ok {
		// Without a bearer token, the event stream takes a ticket.
		id, found, err := s.ticketIdentity(c)
		if err != nil {
			unauthorized(c, err.Error())
			return
		}
		if found {
			c.Request = c.Request.WithContext(auth.WithIdentity(host.WithActor(c.Request.Context(), id.Name), id))
			c.Next()
			return
		}
		bearer = ""
	}
	id, err := s.auth.Authenticate(c.Request.Context(), bearer)
	if err != nil {
		if !errors.Is(err, auth.ErrUnauthorized) {
			s.fail(c, err)
			c.Abort()
			return
		}
		unauthorized(c, strings.TrimPrefix(err.Error(), "unauthorized: "))
		return
	}
	c.Request = c.Request.WithContext(auth.WithIdentity(host.WithActor(c.Request.Context(), id.Name), id))
	c.Next()
}

// unauthorized answers 401 with message and ends the request.
func unauthorized(c *gin.Context, message string) {
	c.Header("WWW-Authenticate", `Bearer realm="ksplugins"`)
	apierr.Write(c.Writer, http.StatusUnauthorized, "unauthorized", message, nil)
	c.Abort()
}

// require answers 403 unless the caller's role allows the route.
func (s *Server) require(rt route) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Set(actionKey, rt.action)
		id, _ := auth.FromContext(c.Request.Context())
		if !auth.Allows(id.Role, rt.role) {
			apierr.Write(c.Writer, http.StatusForbidden, "forbidden",
				fmt.Sprintf("%s needs the %s role; %s has %s", rt.action, rt.role, id.Name, id.Role),
				apiv1.RoleRefusal{RequiredRole: rt.role, Role: id.Role})
			c.Abort()
			return
		}
		c.Next()
	}
}

// actionKey holds the route's action in the gin context, for the audit.
const actionKey = "ksplugins.action"

// audit records every management action that changes something (every
// method but GET), with who, what, when and how it ended, including
// refusals.
func (s *Server) audit(c *gin.Context) {
	c.Next()
	if c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead {
		return
	}
	id, _ := auth.FromContext(c.Request.Context())
	actor := id.Name
	if actor == "" {
		actor = "anonymous"
	}
	status := c.Writer.Status()
	result := store.AuditResult(status)
	action := c.GetString(actionKey)
	if action == "" {
		action = c.Request.Method + " " + c.FullPath()
	}
	target := c.Param("id")
	if target == "" {
		target = c.Param("name")
	}
	e := store.AuditEntry{Time: time.Now().UTC(), Actor: actor, Action: action, Target: target, Result: result, Status: status,
		Details: map[string]any{"path": c.Request.URL.Path, "via": id.Via}}
	if _, err := s.store.AppendAudit(c.Request.Context(), e); err != nil {
		s.log.Error("audit", "err", err, "action", action, "actor", actor)
	}
}

// whoami tells callers who they are and which actions their role allows,
// so that a client (the plugin manager page) offers only those, from the
// same table that enforces them.
func (s *Server) whoami(c *gin.Context) {
	id, _ := auth.FromContext(c.Request.Context())
	allowed := []string{}
	for _, rt := range s.routes() {
		if auth.Allows(id.Role, rt.role) {
			allowed = append(allowed, rt.action)
		}
	}
	c.JSON(http.StatusOK, apiv1.Whoami{Name: id.Name, Role: id.Role, Via: id.Via, Allowed: allowed})
}

func (s *Server) auditLog(c *gin.Context) {
	q := store.AuditQuery{Actor: c.Query("actor"), Target: c.Query("target")}
	var err error
	if v := c.Query("after"); v != "" {
		if q.AfterID, err = strconv.ParseInt(v, 10, 64); err != nil {
			apierr.Write(c.Writer, http.StatusBadRequest, "invalid_request", "after: must be an audit entry id", nil)
			return
		}
	}
	if v := c.Query("limit"); v != "" {
		if q.Limit, err = strconv.Atoi(v); err != nil || q.Limit < 1 {
			apierr.Write(c.Writer, http.StatusBadRequest, "invalid_request", "limit: must be a positive number", nil)
			return
		}
	}
	entries, err := s.store.Audit(c.Request.Context(), q)
	if err != nil {
		s.fail(c, err)
		return
	}
	if entries == nil {
		entries = []apiv1.AuditEntry{} // an empty log is [], not null
	}
	c.JSON(http.StatusOK, apiv1.AuditLog{Entries: entries})
}

func (s *Server) listTokens(c *gin.Context) {
	tokens, err := s.store.Tokens(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	out := apiv1.TokenList{Tokens: make([]apiv1.Token, 0, len(tokens))}
	for _, t := range tokens {
		out.Tokens = append(out.Tokens, tokenToWire(t))
	}
	c.JSON(http.StatusOK, out)
}

// createToken makes a named token; its secret is in this answer only.
func (s *Server) createToken(c *gin.Context) {
	var req apiv1.TokenRequest
	if !decode(c, &req, true) {
		return
	}
	var ttl time.Duration
	if req.TTL != "" {
		var err error
		if ttl, err = time.ParseDuration(req.TTL); err != nil || ttl <= 0 {
			apierr.Write(c.Writer, http.StatusBadRequest, "invalid_request", "ttl: must be a positive duration such as 720h", nil)
			return
		}
	}
	secret, t, err := auth.NewToken(req.Name, req.Role, ttl, time.Now())
	if err != nil {
		apierr.Write(c.Writer, http.StatusBadRequest, "invalid_request", err.Error(), nil)
		return
	}
	if err := s.store.PutToken(c.Request.Context(), t); err != nil {
		if errors.Is(err, store.ErrExists) {
			apierr.Write(c.Writer, http.StatusConflict, "token_exists", "name: a token named "+req.Name+" exists; revoke it or choose another name", nil)
			return
		}
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, apiv1.CreatedToken{Token: tokenToWire(t), Secret: secret})
}

func (s *Server) revokeToken(c *gin.Context) {
	if err := s.store.RevokeToken(c.Request.Context(), c.Param("name"), time.Now().UTC()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			apierr.Write(c.Writer, http.StatusNotFound, "token_not_found", "no token named "+c.Param("name"), nil)
			return
		}
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, apiv1.RevokedToken{Name: c.Param("name"), Revoked: true})
}

func (s *Server) permissions(c *gin.Context) {
	c.JSON(http.StatusOK, apiv1.PermissionList{Permissions: host.KnownPermissions()})
}

// tokenToWire is a stored token as the API shows it: without its hash.
func tokenToWire(t store.Token) apiv1.Token {
	return apiv1.Token{Name: t.Name, Role: t.Role, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt}
}
