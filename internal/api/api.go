// Package api is the server's HTTP surface: the management API under
// /api/plugins (every route behind authentication), the catch-all that
// serves plugin endpoints under /api/plugin-endpoints, and the errors they
// return in the one shape of package apierr.
//
// The route table is fixed when the server starts: plugins come and go
// behind the catch-all, so a plugin can never add or shadow a management
// route. Each entry also declares the apiv1 types its route reads and
// answers; the OpenAPI document at /api/plugins/openapi.json is made from
// the table, so the description cannot drift from what is served.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kubestellar/ksplugins/internal/apierr"
	"github.com/kubestellar/ksplugins/internal/auth"
	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/catalog"
	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/events"
	"github.com/kubestellar/ksplugins/internal/extension"
	"github.com/kubestellar/ksplugins/internal/host"
	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/internal/policy"
	pluginrt "github.com/kubestellar/ksplugins/internal/runtime"
	"github.com/kubestellar/ksplugins/internal/runtime/wasmmodule"
	"github.com/kubestellar/ksplugins/internal/source"
	"github.com/kubestellar/ksplugins/internal/source/archive"
	"github.com/kubestellar/ksplugins/internal/source/git"
	"github.com/kubestellar/ksplugins/internal/store"
	"github.com/kubestellar/ksplugins/internal/toolchain"
	"github.com/kubestellar/ksplugins/internal/web"
	"github.com/kubestellar/ksplugins/sdk"
)

// maxBody bounds a management request's JSON body.
const maxBody = 1 << 20

// SystemSetting is the store key of the live system configuration.
const SystemSetting = "system"

// Options configures a Server.
type Options struct {
	// Host runs the plugins.
	Host *host.Host
	// Store persists the system configuration.
	Store store.Store
	// Events is the bus the host publishes to.
	Events *events.Bus
	// Builder reports build cache figures; may be nil.
	Builder *build.Builder
	// Metrics is served at /metrics in the Prometheus text format.
	Metrics prometheus.Gatherer
	// Auth checks credentials; required unless InsecureLocal.
	Auth *auth.Authenticator
	// InsecureLocal serves every request as admin, without credentials:
	// for development on a loopback address only.
	InsecureLocal bool
	// System is the initial live configuration.
	System config.System
	// LogLevel is switched to debug when the configuration says so.
	LogLevel *slog.LevelVar
	// Logger is the server's logger.
	Logger *slog.Logger
	// Context is the server's lifetime: background work it starts, such
	// as refreshing JWT keys from a provider, stops when it ends. Nil
	// means context.Background().
	Context context.Context
	// CatalogRefresh is how often the configured catalogs are read again
	// while Context lasts; 0 reads them only when asked.
	CatalogRefresh time.Duration
}

// Server serves the HTTP API.
type Server struct {
	host    *host.Host
	store   store.Store
	events  *events.Bus
	builder *build.Builder
	metrics prometheus.Gatherer
	auth    *auth.Authenticator
	// insecureLocal: see Options.InsecureLocal.
	insecureLocal bool
	level         *slog.LevelVar
	log           *slog.Logger
	started       time.Time
	// ctx is Options.Context: it bounds the JWT key refresh.
	ctx context.Context
	// draining is set once the server is shutting down: see Drain.
	draining atomic.Bool

	// tickets open the event stream for clients that cannot send headers.
	tickets *tickets
	// page serves the plugin manager page's files.
	page http.Handler
	// openapi is the OpenAPI document of the routes, as served.
	openapi []byte
	// catalogs reads the plugin catalogs the configuration lists.
	catalogs *catalog.Service

	mu  sync.RWMutex
	sys config.System
}

// New returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Auth == nil && !opts.InsecureLocal {
		return nil, errors.New("api: an authenticator is required")
	}
	if opts.LogLevel == nil {
		opts.LogLevel = new(slog.LevelVar)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Host == nil || opts.Store == nil || opts.Events == nil {
		return nil, errors.New("api: Host, Store and Events are required")
	}
	if opts.Metrics == nil {
		opts.Metrics = prometheus.NewRegistry()
	}
	page, err := web.Handler()
	if err != nil {
		return nil, err
	}
	s := &Server{
		page:    page,
		host:    opts.Host,
		store:   opts.Store,
		events:  opts.Events,
		builder: opts.Builder,
		metrics: opts.Metrics,
		auth:    opts.Auth,

		insecureLocal: opts.InsecureLocal,
		level:         opts.LogLevel,
		log:           opts.Logger,
		started:       time.Now(),
		tickets:       newTickets(time.Now),
		ctx:           opts.Context,
	}
	if s.ctx == nil {
		s.ctx = context.Background()
	}
	if s.openapi, err = marshalOpenAPI(s.routes()); err != nil {
		return nil, err
	}
	s.applySystem(opts.System)
	s.catalogs = catalog.NewService(s.system, s.log)
	if opts.CatalogRefresh > 0 {
		go s.catalogs.Run(s.ctx, opts.CatalogRefresh)
	}
	return s, nil
}

// Handler returns the server's routes.
func (s *Server) Handler() http.Handler {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.Use(gin.CustomRecovery(func(c *gin.Context, err any) {
		s.log.Error("handler panicked", "path", c.Request.URL.Path, "panic", fmt.Sprint(err))
		apierr.Write(c.Writer, http.StatusInternalServerError, "internal_error", "internal error", nil)
	}))
	r.NoRoute(func(c *gin.Context) {
		apierr.Write(c.Writer, http.StatusNotFound, "not_found", "no route "+c.Request.URL.Path, nil)
	})
	r.NoMethod(func(c *gin.Context) {
		apierr.Write(c.Writer, http.StatusMethodNotAllowed, "method_not_allowed", c.Request.Method+" is not allowed on "+c.Request.URL.Path, nil)
	})

	// Probes, without credentials: alive once the port is open; ready once
	// the plugins stored before the start are back or failed.
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, apiv1.Liveness{Status: "ok"}) })
	r.GET("/readyz", func(c *gin.Context) {
		if s.draining.Load() {
			c.JSON(http.StatusServiceUnavailable, apiv1.Readiness{Status: "draining"})
			return
		}
		if n := s.host.Restoring(); n > 0 {
			c.Header("Retry-After", "1")
			c.JSON(http.StatusServiceUnavailable, apiv1.Readiness{Status: "restoring", Restoring: n})
			return
		}
		c.JSON(http.StatusOK, apiv1.Readiness{Status: "ready"})
	})
	// The plugin manager page is what a person opening the server sees.
	r.GET("/", func(c *gin.Context) { c.Redirect(http.StatusFound, web.Prefix) })
	page := gin.WrapH(http.StripPrefix(strings.TrimSuffix(web.Prefix, "/"), s.page))
	r.GET(web.Prefix+"*file", page)
	r.HEAD(web.Prefix+"*file", page)
	// Plugins' UI files and the bridge script, without credentials: the
	// page frames them in a sandbox, which sends none.
	r.GET(extension.BridgePath, gin.WrapF(extension.ServeBridge))
	r.HEAD(extension.BridgePath, gin.WrapF(extension.ServeBridge))
	ui := func(c *gin.Context) {
		s.host.ServeUI(c.Writer, c.Request, c.Param("id"), strings.TrimPrefix(c.Param("path"), "/"))
	}
	r.GET(extension.Prefix+":id/*path", ui)
	r.HEAD(extension.Prefix+":id/*path", ui)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)})))

	m := r.Group("/api/plugins", s.audit, s.authenticate)
	for _, rt := range s.routes() {
		m.Handle(rt.method, rt.path, s.require(rt), rt.handler)
	}

	r.Any(strings.TrimSuffix(host.EndpointPrefix, "/")+"/:id/*path", func(c *gin.Context) {
		s.host.ServeEndpoint(c.Writer, c.Request, c.Param("id"), c.Param("path"))
	})
	return r
}

// decode reads a JSON body into v, naming the field that is wrong.
func decode(c *gin.Context, v any, strict bool) bool {
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	if strict {
		dec.DisallowUnknownFields()
	}
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("body holds more than one JSON value")
	}
	if err == nil {
		return true
	}
	var (
		typeErr  *json.UnmarshalTypeError
		syntax   *json.SyntaxError
		tooLarge *http.MaxBytesError
	)
	var problem manifest.Problem
	switch {
	case errors.Is(err, io.EOF):
		problem = manifest.Problem{Message: "body is empty; send a JSON object"}
	case errors.As(err, &typeErr):
		problem = manifest.Problem{Field: typeErr.Field, Message: fmt.Sprintf("must be %s, got JSON %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)}
	case errors.As(err, &syntax):
		problem = manifest.Problem{Message: fmt.Sprintf("invalid JSON at byte %d: %v", syntax.Offset, err)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		problem = manifest.Problem{Message: "invalid JSON: the body ends too early"}
	case errors.As(err, &tooLarge):
		apierr.Write(c.Writer, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("body is larger than %d bytes", tooLarge.Limit), nil)
		return false
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		problem = manifest.Problem{Field: strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), Message: "unknown field"}
	default:
		problem = manifest.Problem{Message: err.Error()}
	}
	apierr.Write(c.Writer, http.StatusBadRequest, "invalid_request", problem.String(), []manifest.Problem{problem})
	return false
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "a list"
	case "map", "struct":
		return "an object"
	}
	return "a number"
}

// fail writes err with the status its kind calls for.
func (s *Server) fail(c *gin.Context, err error) {
	status, code, details := s.classify(c.Request.URL.Path, err)
	apierr.Write(c.Writer, status, code, err.Error(), details)
}

// classify maps an error to its HTTP status, code and details: the one
// place that knows which failure is whose fault.
func (s *Server) classify(path string, err error) (status int, code string, details any) {
	var (
		merr     *manifest.Error
		berr     *build.Error
		mismatch *toolchain.MismatchError
		perr     *host.PluginError
		oerr     *pluginrt.OpenError
		aerr     *archive.Error
		refusal  *policy.Refusal
		serr     *source.Error
		notFound *git.NotFoundError
		authErr  *git.AuthError
		fetchErr *source.FetchError
		derr     *host.DependencyError
		abiErr   *wasmmodule.ABIError
		digest   *host.DigestMismatchError
	)
	switch {
	case errors.As(err, &digest):
		return http.StatusUnprocessableEntity, "catalog_digest_mismatch", nil
	case errors.Is(err, host.ErrInvalidConfig):
		var problems any
		if errors.As(err, &merr) {
			problems = merr.Problems
		}
		return http.StatusBadRequest, "invalid_configuration", problems
	case errors.As(err, &merr):
		return http.StatusUnprocessableEntity, "invalid_manifest", merr.Problems
	case errors.As(err, &aerr):
		return http.StatusBadRequest, "invalid_archive", apiv1.ArchiveRefusal{Rule: aerr.Rule, Entry: aerr.Entry}
	case errors.As(err, &refusal):
		if refusal.Rule == "max_plugin_size" {
			return http.StatusRequestEntityTooLarge, "policy_refused", apiv1.PolicyRefusal{Rule: refusal.Rule}
		}
		return http.StatusForbidden, "policy_refused", apiv1.PolicyRefusal{Rule: refusal.Rule}
	case errors.As(err, &notFound):
		return http.StatusBadRequest, "version_not_found", apiv1.FieldError{Field: "version"}
	case errors.As(err, &authErr):
		return http.StatusBadGateway, "repository_auth_failed", nil
	case errors.As(err, &fetchErr):
		return http.StatusBadGateway, "fetch_failed", nil
	case errors.As(err, &serr):
		return http.StatusBadRequest, "invalid_source", apiv1.FieldError{Field: serr.Field}
	case errors.As(err, &berr):
		return http.StatusUnprocessableEntity, "build_failed", apiv1.BuildFailure{Diagnostics: berr.Diagnostics, Output: berr.Output}
	case errors.As(err, &mismatch):
		return http.StatusUnprocessableEntity, "incompatible_plugin", apiv1.Incompatibility{What: mismatch.What, Plugin: mismatch.Plugin, Host: mismatch.Host}
	case errors.As(err, &derr):
		status := http.StatusBadRequest
		if derr.Reason == host.HasDependants {
			status = http.StatusConflict
		}
		return status, string(derr.Reason), apiv1.DependencyRefusal{Plugin: derr.Plugin, Dependency: derr.Requires.Plugin, Range: derr.Requires.Version,
			Installed: derr.Installed, Cycle: derr.Cycle, Dependants: derr.Dependants}
	case errors.As(err, &perr):
		return http.StatusUnprocessableEntity, "plugin_failed", apiv1.PluginFailure{Step: perr.Step}
	case errors.As(err, &abiErr):
		return http.StatusBadRequest, "unsupported_module", abiErr.Details()
	case errors.As(err, &oerr):
		return http.StatusUnprocessableEntity, "invalid_plugin", nil
	case errors.Is(err, host.ErrNotFound):
		return http.StatusNotFound, "plugin_not_found", nil
	case errors.Is(err, host.ErrExists):
		return http.StatusConflict, "plugin_exists", nil
	case errors.Is(err, host.ErrBusy):
		return http.StatusConflict, "plugin_busy", nil
	case errors.Is(err, host.ErrConflict):
		return http.StatusConflict, "changed_concurrently", nil
	case errors.Is(err, host.ErrBadSource):
		return http.StatusBadRequest, "invalid_source", nil
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "timeout", nil
	}
	s.log.Error("request failed", "path", path, "err", err)
	return http.StatusInternalServerError, "internal_error", nil
}

func (s *Server) load(c *gin.Context) {
	var req apiv1.LoadRequest
	if !decode(c, &req, true) {
		return
	}
	s.install(c, host.LoadRequest{LoadRequest: req})
}

// install runs an install: synchronously (201 with the plugin), or with
// ?async=true in the background (202 with the operation to follow).
func (s *Server) install(c *gin.Context, req host.LoadRequest) {
	if c.Query("async") == "true" {
		op := s.host.StartLoad(c.Request.Context(), req)
		c.Header("Location", "/api/plugins/operations/"+op.ID)
		c.JSON(http.StatusAccepted, op)
		return
	}
	info, err := s.host.Load(c.Request.Context(), req)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, info)
}

func (s *Server) list(c *gin.Context) {
	plugins := s.host.List()
	if replicas := s.host.Replicas(c.Request.Context()); replicas != nil {
		for i := range plugins {
			plugins[i].Replicas = replicas[plugins[i].ID]
		}
	}
	c.JSON(http.StatusOK, apiv1.PluginList{Plugins: plugins, Count: len(plugins)})
}

func (s *Server) get(c *gin.Context) {
	info, err := s.host.Get(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	if replicas := s.host.Replicas(c.Request.Context()); replicas != nil {
		info.Replicas = replicas[info.ID]
	}
	c.JSON(http.StatusOK, info)
}

func (s *Server) unload(c *gin.Context) {
	id := c.Param("id")
	unload := s.host.Unload
	if c.Query("force") == "true" {
		unload = s.host.ForceUnload
	}
	if err := unload(c.Request.Context(), id); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, apiv1.Unloaded{ID: id, State: "unloaded"})
}

func (s *Server) reload(c *gin.Context) {
	info, err := s.host.Reload(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, info)
}

func (s *Server) enable(c *gin.Context)  { s.setEnabled(c, true) }
func (s *Server) disable(c *gin.Context) { s.setEnabled(c, false) }

func (s *Server) setEnabled(c *gin.Context, on bool) {
	var (
		info apiv1.Plugin
		err  error
	)
	if !on && c.Query("force") == "true" {
		info, err = s.host.ForceDisable(c.Request.Context(), c.Param("id"))
	} else {
		info, err = s.host.SetEnabled(c.Request.Context(), c.Param("id"), on)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, info)
}

func (s *Server) status(c *gin.Context) {
	id := c.Param("id")
	st, err := s.host.Status(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	info, err := s.host.Get(id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, apiv1.PluginReport{ID: id, State: info.State, Enabled: info.Enabled, Status: st, Stats: info.Stats})
}

// systemMetrics is the JSON view of the figures /metrics exposes.
func (s *Server) systemMetrics(c *gin.Context) {
	plugins := s.host.List()
	byState := map[apiv1.State]int{}
	for _, st := range apiv1.States() {
		byState[st] = 0
	}
	perPlugin := map[string]apiv1.Stats{}
	var requests, serverErrs, clientErrs uint64
	for _, p := range plugins {
		byState[p.State]++
		perPlugin[p.ID] = p.Stats
		requests += p.Stats.Requests
		serverErrs += p.Stats.ServerErrors
		clientErrs += p.Stats.ClientErrors
	}
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	out := apiv1.SystemMetrics{
		Plugins:           apiv1.PluginCounts{Total: len(plugins), ByState: byState, ByHealth: s.host.HealthSummary().Counts},
		RequestsTotal:     requests,
		ServerErrorsTotal: serverErrs,
		ClientErrorsTotal: clientErrs,
		PerPlugin:         perPlugin,
		PluginMetrics:     s.host.PluginMetrics(c.Request.Context(), 2*time.Second),
		PluginLogs:        s.host.OutputStats(),
		Process: apiv1.ProcessStats{
			Goroutines:     runtime.NumGoroutine(),
			HeapAllocBytes: mem.HeapAlloc,
			SysBytes:       mem.Sys,
			UptimeSeconds:  time.Since(s.started).Seconds(),
			GoVersion:      runtime.Version(),
		},
	}
	if s.builder != nil {
		st := apiv1.BuildStats(s.builder.Stats())
		out.BuildCache = &st
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) system() config.System {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sys
}

func (s *Server) applySystem(sys config.System) {
	s.mu.Lock()
	prev := s.sys
	s.sys = sys
	s.mu.Unlock()
	if s.catalogs != nil && !slices.EqualFunc(prev.Catalogs, sys.Catalogs, sameCatalog) {
		// Read the catalogs as now configured soon, whoever changed them.
		s.catalogs.Kick()
	}
	if s.auth != nil {
		cfg, err := auth.LoadJWT(sys.JWT)
		if err != nil {
			s.log.Error("JWT validation stays off", "err", err)
		}
		s.auth.SetJWT(s.ctx, cfg)
	}
	s.host.SetSystem(sys)
	if sys.Debug {
		s.level.Set(slog.LevelDebug)
	} else {
		s.level.Set(slog.LevelInfo)
	}
}

// Drain makes /readyz answer 503 "draining" from now on, while everything
// else is still served: the first step of a shutdown, so that a load
// balancer stops sending requests before the port closes.
func (s *Server) Drain() { s.draining.Store(true) }

// FollowSetting applies the system configuration another server sharing
// the store recorded, when key is SystemSetting or "" (any setting may have
// changed). A configuration equal to the live one is left alone; one that
// does not validate here is logged and not applied.
func (s *Server) FollowSetting(ctx context.Context, key string) {
	if key != "" && key != SystemSetting {
		return
	}
	data, err := s.store.Setting(ctx, SystemSetting)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("read the system configuration another server recorded", "err", err)
		}
		return
	}
	live, err := json.Marshal(s.system())
	if err != nil || bytes.Equal(live, data) {
		return
	}
	next, dropped, err := DecodeSystem(s.system(), data)
	if err != nil {
		s.log.Error("the system configuration another server recorded is not applied here", "err", err)
		return
	}
	if applied, err := json.Marshal(next); err == nil && bytes.Equal(applied, live) {
		return // what this server applied already, less what it could not use
	}
	if dropped != "" {
		s.log.Warn("the saved repository_token is not used", "reason", dropped)
	}
	s.applySystem(next)
	s.events.Publish(events.Event{Type: events.ConfigChanged, Actor: "system", Message: "system configuration changed, as another server recorded",
		Details: map[string]any{"security_mode": next.SecurityMode, "debug": next.Debug, "followed": true}})
}

// DecodeSystem reads a system configuration saved through the API (data)
// over base, and validates it, as a start and a follow both do. A
// repository_token saved before a token was tied to its base URL's scheme
// is left out rather than refusing the whole configuration; dropped says
// why, for the caller to log. base is copied by encoding first, so that
// decoding writes to none of its slices.
func DecodeSystem(base config.System, data []byte) (sys config.System, dropped string, err error) {
	copied, err := json.Marshal(base)
	if err == nil {
		err = json.Unmarshal(copied, &sys)
	}
	if err == nil {
		err = json.Unmarshal(data, &sys)
	}
	if err != nil {
		return config.System{}, "", fmt.Errorf("read stored configuration: %w", err)
	}
	problems := config.Validate(sys)
	if len(problems) == 1 && problems[0].Field == "repository_token" {
		// The operator sets it again with a base it may travel to.
		dropped = problems[0].Message
		sys.RepositoryToken = ""
		problems = config.Validate(sys)
	}
	if len(problems) > 0 {
		return config.System{}, "", fmt.Errorf("stored configuration is invalid: %s", problems[0])
	}
	return sys, dropped, nil
}

func (s *Server) getConfiguration(c *gin.Context) {
	c.JSON(http.StatusOK, config.Redact(s.system()))
}

// putConfiguration merges the body into the live configuration: fields not
// sent keep their values. An invalid result changes nothing.
func (s *Server) putConfiguration(c *gin.Context) {
	current := s.system()
	// Decoding reuses a slice's array and a pointer's value: give next
	// its own, so that a refused change leaves the live configuration as
	// it was.
	next := current
	next.AllowedRepos = slices.Clone(next.AllowedRepos)
	next.TrustedKeys = slices.Clone(next.TrustedKeys)
	next.Catalogs = slices.Clone(next.Catalogs)
	next.GrantedPermissions = slices.Clone(next.GrantedPermissions)
	next.Kubernetes.AllowedContexts = slices.Clone(next.Kubernetes.AllowedContexts)
	next.Kubernetes.Impersonate = slices.Clone(next.Kubernetes.Impersonate)
	next.Kubernetes.ExternalDeniedNetworks = slices.Clone(next.Kubernetes.ExternalDeniedNetworks)
	// Map entries are decoded into fresh values, so a shallow copy keeps
	// the live grants apart; the map is merged by plugin id.
	next.Kubernetes.Granted = maps.Clone(next.Kubernetes.Granted)
	if next.JWT != nil {
		jwt := *next.JWT
		next.JWT = &jwt
	}
	if !decode(c, &next, true) {
		return
	}
	// null removes a plugin's entry, as in a JSON merge patch.
	maps.DeleteFunc(next.Kubernetes.Granted, func(_ string, k *sdk.KubernetesAccess) bool { return k == nil })
	if next.RepositoryToken == config.Redacted {
		next.RepositoryToken = current.RepositoryToken
	}
	if problems := config.Validate(next); len(problems) > 0 {
		apierr.Write(c.Writer, http.StatusBadRequest, "invalid_configuration", (&manifest.Error{File: "configuration", Problems: problems}).Error(), problems)
		return
	}
	if _, err := auth.LoadJWT(next.JWT); err != nil {
		problems := []manifest.Problem{{Field: "jwt", Message: err.Error()}}
		apierr.Write(c.Writer, http.StatusBadRequest, "invalid_configuration", err.Error(), problems)
		return
	}
	data, err := json.Marshal(next)
	if err == nil {
		err = s.store.PutSetting(c.Request.Context(), SystemSetting, data)
	}
	if err != nil {
		s.fail(c, fmt.Errorf("save configuration: %w", err))
		return
	}
	s.applySystem(next)
	s.events.Publish(events.Event{Type: events.ConfigChanged, Actor: "admin", Message: "system configuration changed",
		Details: map[string]any{"security_mode": next.SecurityMode, "debug": next.Debug}})
	c.JSON(http.StatusOK, config.Redact(next))
}
