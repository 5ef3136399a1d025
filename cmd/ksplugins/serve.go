package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/spf13/cobra"

	"github.com/kubestellar/ksplugins"
	"github.com/kubestellar/ksplugins/internal/api"
	"github.com/kubestellar/ksplugins/internal/auth"
	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/events"
	"github.com/kubestellar/ksplugins/internal/host"
	"github.com/kubestellar/ksplugins/internal/metrics"
	"github.com/kubestellar/ksplugins/internal/runtime"
	"github.com/kubestellar/ksplugins/internal/runtime/httpwasm"
	"github.com/kubestellar/ksplugins/internal/runtime/native"
	"github.com/kubestellar/ksplugins/internal/runtime/wasm"
	"github.com/kubestellar/ksplugins/internal/source"
	"github.com/kubestellar/ksplugins/internal/store"
	"github.com/kubestellar/ksplugins/internal/store/postgres"
	"github.com/kubestellar/ksplugins/internal/store/sqlite"
	"github.com/kubestellar/ksplugins/internal/toolchain"
)

// addDirFlags binds the flags shared by serve and build.
func addDirFlags(cmd *cobra.Command, s *config.Settings) {
	f := cmd.Flags()
	f.StringVar(&s.PluginDir, "plugin-dir", s.PluginDir, "directory for plugin files (PLUGIN_DIR)")
	f.StringVar(&s.CacheDir, "cache-dir", s.CacheDir, "directory for the build cache (PLUGIN_CACHE_DIR)")
	f.StringVar(&s.GoCmd, "go", s.GoCmd, "go command used to build plugins (KSPLUGINS_GO)")
	f.BoolVar(&s.System.Debug, "debug", s.System.Debug, "debug logging (PLUGIN_DEBUG)")
	f.StringVar(&s.LogFormat, "log-format", s.LogFormat, "log format: text or json (KSPLUGINS_LOG_FORMAT)")
}

func serveCommand() *cobra.Command {
	s := config.FromEnv()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the plugin host",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), s)
		},
	}
	addDirFlags(cmd, &s)
	f := cmd.Flags()
	f.StringVar(&s.Addr, "addr", s.Addr, "listen address (KSPLUGINS_ADDR)")
	f.StringVar(&s.DataDir, "data-dir", s.DataDir, "directory for the store and tokens (KSPLUGINS_DATA_DIR)")
	f.StringVar(&s.System.SecurityMode, "security-mode", s.System.SecurityMode, "strict, normal or permissive (PLUGIN_SECURITY_MODE)")
	f.BoolVar(&s.Watch, "watch", s.Watch, "rebuild and swap plugins loaded from folders when their files change (PLUGIN_WATCH)")
	f.StringVar(&s.Kubeconfig, "kubeconfig", s.Kubeconfig, "the host's kubeconfig, whose contexts plugins are granted access to through the host (KUBECONFIG); without one, in a pod, its service account")
	f.StringVar(&s.InClusterContext, "in-cluster-context", s.InClusterContext, "the context name plugins are granted the pod's service account by, without a kubeconfig (KSPLUGINS_IN_CLUSTER_CONTEXT)")
	f.BoolVar(&s.WarmUp, "warm-up", s.WarmUp, "after a start, compile Go's standard library, gin and the SDK for the sandboxed tier in the background, so that the first sandboxed install is not minutes slower (KSPLUGINS_WARM_UP)")
	f.DurationVar(&s.CatalogRefresh, "catalog-refresh", s.CatalogRefresh, "how often the plugin catalogs of the system configuration are read again; 0 reads them only when asked (KSPLUGINS_CATALOG_REFRESH)")
	f.DurationVar(&s.ReconcileInterval, "reconcile-interval", s.ReconcileInterval, "with a PostgreSQL store shared by several servers, how often each compares all its plugins with the store, beside following every change it is told of (KSPLUGINS_RECONCILE_INTERVAL)")
	f.StringVar(&s.ReplicaName, "replica-name", s.ReplicaName, "this server's name among those sharing a PostgreSQL database, in each plugin's per-replica status; default the host name and the listen port (KSPLUGINS_REPLICA_NAME)")
	f.DurationVar(&s.ShutdownDelay, "shutdown-delay", s.ShutdownDelay, "on SIGTERM, how long to keep serving with /readyz answering 503 draining before the port closes, so that a load balancer stops sending requests first (KSPLUGINS_SHUTDOWN_DELAY)")
	f.DurationVar(&s.ShutdownGrace, "shutdown-grace", s.ShutdownGrace, "on SIGTERM, how long requests in flight may take to finish once the port closes (KSPLUGINS_SHUTDOWN_GRACE)")
	f.BoolVar(&s.InsecureLocal, "insecure-listen-local", false, "development only: serve every request as admin without credentials; requires a loopback --addr")
	return cmd
}

// replicaReportInterval is how often a server sharing its store tells it
// what it runs, beside after each change.
const replicaReportInterval = 5 * time.Second

// replicaName is the server's name among those sharing its store: the one
// given, else the host's name and the port it listens on, which tells
// apart servers on one machine and is a pod's name on Kubernetes.
func replicaName(s config.Settings) string {
	if s.ReplicaName != "" {
		return s.ReplicaName
	}
	host, _ := os.Hostname()
	_, port, _ := net.SplitHostPort(s.Addr)
	return host + ":" + port
}

// newLogger returns the process logger and the level it can be switched by.
func newLogger(format string, debug bool) (*slog.Logger, *slog.LevelVar, error) {
	level := new(slog.LevelVar)
	if debug {
		level.Set(slog.LevelDebug)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), level, nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), level, nil
	}
	return nil, nil, fmt.Errorf("--log-format: must be text or json, got %q", format)
}

// newBuilder returns the plugin builder for this binary.
func newBuilder(s config.Settings, log *slog.Logger) (*build.Builder, toolchain.Target, error) {
	target, err := toolchain.Host()
	if err != nil {
		return nil, target, err
	}
	if !target.Bool("-trimpath") {
		log.Warn("this binary was built without -trimpath: native plugins will not load; build it with `make build`")
	}
	b, err := build.New(build.Options{CacheDir: s.CacheDir, GoCmd: s.GoCmd, SDK: ksplugins.SDKSource(), Target: target, Logger: log})
	return b, target, err
}

// secretEnv names the environment variables that carry secrets into the
// server, or lead to them: config.FromEnv has read them into the settings
// by now. KUBECONFIG names the file of the host's cluster credentials,
// which plugins reach only through the host's mediation.
func secretEnv() []string {
	return []string{"KSPLUGINS_TOKEN", "KUBECONFIG", "KSPLUGINS_DATABASE_URL"}
}

// forgetSecretEnv removes the secret variables from the process's
// environment, so that neither a native plugin calling os.Getenv nor any
// process the server or a plugin starts finds them there. It is done when
// the server starts, not in config.FromEnv, because FromEnv also runs for
// the client commands, which read KSPLUGINS_TOKEN afterwards.
func forgetSecretEnv() error {
	for _, k := range secretEnv() {
		if err := os.Unsetenv(k); err != nil {
			return fmt.Errorf("remove %s from the environment: %w", k, err)
		}
	}
	return nil
}

// openStore opens the store the settings select: PostgreSQL when
// KSPLUGINS_DATABASE_URL is a postgres:// URL, else the SQLite file in the
// data folder, which needs nothing set up. The URL is logged and reported
// without its password.
func openStore(ctx context.Context, s config.Settings, log *slog.Logger) (store.Store, error) {
	switch u := s.DatabaseURL; {
	case u == "":
		path := filepath.Join(s.DataDir, "ksplugins.db")
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, err
		}
		log.Info("store: SQLite", "path", path)
		return db, nil
	case postgres.IsURL(u):
		db, err := postgres.Open(ctx, u)
		if err != nil {
			return nil, err
		}
		log.Info("store: PostgreSQL", "database", postgres.Redacted(u))
		return db, nil
	}
	// Not the value: it may be a URL of another kind, password included.
	return nil, errors.New("KSPLUGINS_DATABASE_URL: want a postgres:// or postgresql:// URL, or nothing for the SQLite store in the data folder")
}

func serve(ctx context.Context, s config.Settings) error {
	if err := forgetSecretEnv(); err != nil {
		return err
	}
	log, level, err := newLogger(s.LogFormat, s.System.Debug)
	if err != nil {
		return err
	}
	if problems := config.Validate(s.System); len(problems) > 0 {
		return fmt.Errorf("invalid settings: %s", problems[0])
	}
	for _, dir := range []string{s.DataDir, s.PluginDir, s.CacheDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
	}
	if s.InsecureLocal {
		if err := loopbackOnly(s.Addr); err != nil {
			return err
		}
		log.Warn("--insecure-listen-local: every request is served as admin without credentials; for development only")
	}
	token, created, err := auth.AdminToken(s.DataDir, s.Token)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, s, log)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := storedSystem(ctx, db, &s.System, log); err != nil {
		return err
	}
	b, target, err := newBuilder(s, log)
	if err != nil {
		return err
	}
	sources, err := source.New(s.PluginDir)
	if err != nil {
		return err
	}
	sandbox, err := wasm.NewRuntime(ctx, filepath.Join(s.CacheDir, "wasm"))
	if err != nil {
		return err
	}
	defer sandbox.Close(context.WithoutCancel(ctx))
	bus := events.NewBus(events.Options{Logger: log})
	kube := kubeUpstreams(kubeSource{Kubeconfig: s.Kubeconfig, InCluster: inClusterFromEnv(s.InClusterContext)}, log)
	authn := auth.NewAuthenticator(token, db)
	h := host.New(host.Options{
		Store:   db,
		Events:  bus,
		Builder: b,
		Sources: sources,
		Runtimes: []runtime.Runtime{
			native.NewRuntime(native.NewLoader(filepath.Join(s.CacheDir, "loaded"), target)),
			sandbox,
			httpwasm.NewRuntime(sandbox, filepath.Join(s.CacheDir, "http-wasm")),
		},
		Watch:    s.Watch,
		DataDir:  s.DataDir,
		FetchDir: filepath.Join(s.CacheDir, "fetched"),
		Replica:  replicaName(s),
		Logger:   log,

		Authenticate: authn.Authenticate,
		Kubernetes:   kube,
	})
	gin.SetMode(gin.ReleaseMode)
	srv, err := api.New(api.Options{
		Host: h, Store: db, Events: bus, Builder: b, Metrics: metrics.NewRegistry(h, b),
		Auth: authn, InsecureLocal: s.InsecureLocal, System: s.System, LogLevel: level, Logger: log,
		Context: ctx, CatalogRefresh: s.CatalogRefresh,
	})
	if err != nil {
		return err
	}
	if n, ok := db.(store.Notifier); ok {
		// Several servers share this store: each follows what the others
		// record.
		changes, err := n.Changes(ctx)
		if err != nil {
			return err
		}
		h.Follow(changes, s.ReconcileInterval, srv.FollowSetting)
		h.Report(replicaReportInterval)
	}
	if c, ok := db.(events.Carrier); ok {
		if err := events.Relay(ctx, bus, c, replicaName(s), log); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.Addr, err)
	}
	// Plugins come back in the background, once the port is open: probes,
	// the API and the plugins already back answer meanwhile.
	found, err := h.Restore(ctx)
	if err != nil {
		return err
	}
	if found > 0 {
		log.Info("restoring plugins", "stored", found)
	}
	if s.WarmUp {
		h.WarmUp()
	}
	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// Uploads and synchronous installs (a cold build) take minutes; the
		// event stream sets its own write deadlines.
		ReadTimeout:    5 * time.Minute,
		WriteTimeout:   10 * time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("ksplugins listening", "addr", ln.Addr().String(), "data_dir", s.DataDir, "cache_dir", s.CacheDir, "security_mode", s.System.SecurityMode)
	if created {
		fmt.Fprintf(os.Stderr, "\nAdmin token (shown once; stored in %s):\n\n  %s\n\nTry:\n\n  curl -H 'Authorization: Bearer %s' http://%s/api/plugins\n\n",
			filepath.Join(s.DataDir, auth.TokenFile), token, token, displayAddr(ln.Addr()))
	}

	errc := make(chan error, 1)
	go func() { errc <- httpSrv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// A stop: readiness first, then, after the delay, the port; requests
	// in flight finish within the grace period; then the plugins close.
	// What is stored was written as each change was made: nothing is left
	// to write.
	srv.Drain()
	log.Info("shutting down", "delay", s.ShutdownDelay, "grace", s.ShutdownGrace)
	time.Sleep(s.ShutdownDelay)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.ShutdownGrace)
	defer cancel()
	err = httpSrv.Shutdown(shutdownCtx)
	h.Close(shutdownCtx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// storedSystem replaces sys with the configuration an operator saved
// through the API, if any: it outlives restarts, flags and environment
// only set the first one.
func storedSystem(ctx context.Context, db store.Store, sys *config.System, log *slog.Logger) error {
	data, err := db.Setting(ctx, api.SystemSetting)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	stored, dropped, err := api.DecodeSystem(*sys, data)
	if err != nil {
		return err
	}
	if dropped != "" {
		// Start without the token rather than not at all, and say so.
		log.Warn("the saved repository_token is not used", "reason", dropped)
	}
	log.Info("using the configuration saved through the API", "security_mode", stored.SecurityMode)
	*sys = stored
	return nil
}

// loopbackOnly refuses a listen address that is not on loopback.
func loopbackOnly(addr string) error {
	hostPart, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	if ip := net.ParseIP(hostPart); hostPart != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--insecure-listen-local needs a loopback --addr such as 127.0.0.1:4000; got %q", addr)
	}
	return nil
}

func displayAddr(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		return fmt.Sprintf("localhost:%d", tcp.Port)
	}
	return a.String()
}
