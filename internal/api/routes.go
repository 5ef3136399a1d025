package api

import (
	"errors"
	"fmt"
	"net/http"
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

// route is one management route: what it does, and the role it needs.
type route struct {
	method, path string
	// action names the route in audit records and errors.
	action  string
	role    string
	handler gin.HandlerFunc
}

// routes is the management API. Every route names its role: a route
// cannot be added without deciding who may use it.
func (s *Server) routes() []route {
	return []route{
		{"GET", "", "list", auth.Viewer, s.list},
		{"POST", "/load", "load", auth.Admin, s.load},
		{"POST", "/upload", "upload", auth.Admin, s.upload},
		{"GET", "/manifest-schema", "manifest-schema", auth.Viewer, func(c *gin.Context) { c.Data(http.StatusOK, "application/schema+json", manifest.Schema()) }},
		{"GET", "/events", "events", auth.Viewer, s.streamEvents},
		{"POST", "/events/ticket", "events-ticket", auth.Viewer, s.issueTicket},
		{"GET", "/operations/:op", "operation", auth.Viewer, s.operation},
		{"GET", "/cache/info", "cache-info", auth.Viewer, s.cacheInfo},
		{"DELETE", "/cache", "cache-purge", auth.Admin, s.purgeCache},
		{"GET", "/health/summary", "health-summary", auth.Viewer, func(c *gin.Context) { c.JSON(http.StatusOK, s.host.HealthSummary()) }},
		{"GET", "/permissions", "permissions", auth.Viewer, s.permissions},
		{"GET", "/audit", "audit", auth.Admin, s.auditLog},
		{"GET", "/tokens", "tokens", auth.Admin, s.listTokens},
		{"POST", "/tokens", "token-create", auth.Admin, s.createToken},
		{"DELETE", "/tokens/:name", "token-revoke", auth.Admin, s.revokeToken},
		{"GET", "/whoami", "whoami", auth.Viewer, s.whoami},
		{"GET", "/system/metrics", "system-metrics", auth.Viewer, s.systemMetrics},
		{"GET", "/system/configuration", "configuration", auth.Viewer, s.getConfiguration},
		{"PUT", "/system/configuration", "configure-system", auth.Admin, s.putConfiguration},
		{"GET", "/:id", "get", auth.Viewer, s.get},
		{"DELETE", "/:id", "unload", auth.Admin, s.unload},
		{"POST", "/:id/reload", "reload", auth.Operator, s.reload},
		{"POST", "/:id/update", "update", auth.Admin, s.update},
		{"POST", "/:id/enable", "enable", auth.Operator, s.enable},
		{"POST", "/:id/disable", "disable", auth.Operator, s.disable},
		{"GET", "/:id/status", "status", auth.Viewer, s.status},
		{"GET", "/:id/metrics", "plugin-metrics", auth.Viewer, s.pluginMetrics},
		{"GET", "/:id/configuration", "plugin-configuration", auth.Viewer, s.pluginConfiguration},
		{"PUT", "/:id/configuration", "configure", auth.Operator, s.putPluginConfiguration},
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
	out := apiv1.AuditLog{Entries: make([]apiv1.AuditEntry, 0, len(entries))}
	for _, e := range entries {
		out.Entries = append(out.Entries, auditToWire(e))
	}
	c.JSON(http.StatusOK, out)
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
