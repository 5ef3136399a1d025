package host

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/internal/apierr"
	"github.com/kubestellar/ksplugins/internal/auth"
	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/gateway"
	"github.com/kubestellar/ksplugins/internal/ratelimit"
	"github.com/kubestellar/ksplugins/internal/runtime"
	"github.com/kubestellar/ksplugins/internal/store"
	"github.com/kubestellar/ksplugins/sdk"
)

// ServeEndpoint serves a request for path on plugin id: the catch-all route
// /api/plugin-endpoints/:id/*path comes here. Whatever answers, the host or
// the plugin, answers through the boundary (package gateway): the plugin
// never sees the caller's credentials, and its answer cannot act for the
// server's origin. Calls that may change state are audited.
func (h *Host) ServeEndpoint(w http.ResponseWriter, r *http.Request, id, path string) {
	h.serveEndpoint(w, r, id, path, "")
}

// serveEndpoint is ServeEndpoint for a request from the plugin from
// (through PluginCaller), named to the plugin in sdk.CallerPluginHeader,
// or from outside when from is "".
func (h *Host) serveEndpoint(w http.ResponseWriter, r *http.Request, id, path, from string) {
	gw := h.gateway()
	bw := gateway.NewWriter(r.Context(), w)
	r = gw.Admit(r, endpointBase(r, id), path)
	if from != "" {
		r.Header.Set(sdk.CallerPluginHeader, from)
	}
	p := h.lookup(id)
	if p == nil {
		apierr.Write(bw, http.StatusNotFound, "plugin_not_found", fmt.Sprintf("no plugin %q is loaded", id), nil)
		return
	}
	defer func() {
		if err := gw.Audit(r, id, cmp.Or(bw.Status(), http.StatusOK)); err != nil {
			h.log.Error("audit plugin endpoint call", "plugin_id", id, "err", err)
		}
	}()
	switch s := p.getState(); s {
	case apiv1.StateActive, apiv1.StateDegraded:
	case apiv1.StateDisabled:
		apierr.Write(bw, http.StatusServiceUnavailable, "plugin_disabled", fmt.Sprintf("plugin %s is disabled", id), nil)
		return
	case apiv1.StateRestoring:
		// The server is starting: the plugin will answer in a moment.
		bw.Header().Set("Retry-After", "1")
		apierr.Write(bw, http.StatusServiceUnavailable, "plugin_restoring", fmt.Sprintf("plugin %s is being restored after the server started; retry shortly", id), nil)
		return
	default:
		apierr.Write(bw, http.StatusServiceUnavailable, "plugin_unavailable", fmt.Sprintf("plugin %s is %s", id, s), nil)
		return
	}
	in := p.acquire()
	if in == nil {
		apierr.Write(bw, http.StatusServiceUnavailable, "plugin_unavailable", fmt.Sprintf("plugin %s has no running instance", id), nil)
		return
	}
	defer in.release()
	in.engine.ServeHTTP(bw, r)
}

// acquire returns p's running instance, acquired for one request, or nil
// when it has none.
func (p *Plugin) acquire() *instance {
	for {
		in := p.inst.Load()
		if in == nil || in.acquire() {
			return in
		}
		// Swapped under us: take the new instance.
	}
}

// endpointBase is where plugin id's endpoints are served, EndpointPrefix
// followed by id: the start of r's path when the catch-all route matched
// it, which spares building the string again for each request.
func endpointBase(r *http.Request, id string) string {
	n := len(EndpointPrefix) + len(id)
	if p := r.URL.Path; len(p) >= n && p[:len(EndpointPrefix)] == EndpointPrefix && p[len(EndpointPrefix):n] == id {
		return p[:n]
	}
	return EndpointPrefix + id
}

// newRouter builds the router of one instance from its endpoints (see
// gateway.Gateway.Router).
func (h *Host) newRouter(p *Plugin, impl sdk.KubestellarPlugin, endpoints []sdk.EndpointConfig, log *slog.Logger) (*gin.Engine, error) {
	handlers, err := runtime.Safe(func() map[string]gin.HandlerFunc { return impl.GetHandlers() })
	if err != nil {
		return nil, fmt.Errorf("GetHandlers: %w", err)
	}
	return h.gateway().Router(gateway.Plugin{ID: p.id, Code: impl, Endpoints: endpoints, Handlers: handlers, Counters: &p.stats, Granted: p.granted, Log: log})
}

func (p *Plugin) granted() []string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.grants
}

// gateway is the request path over h. It reads h's options and
// configuration on each request, so it is made where it is used rather
// than kept.
func (h *Host) gateway() gateway.Gateway { return gateway.New((*gatewayBackend)(h)) }

// gatewayBackend is the host as the request path sees it.
type gatewayBackend Host

func (b *gatewayBackend) Authenticate(ctx context.Context, bearer string) (auth.Identity, error) {
	if b.opts.Authenticate == nil {
		return auth.Identity{}, errors.New("this server cannot check tokens")
	}
	return b.opts.Authenticate(ctx, bearer)
}

func (b *gatewayBackend) System() *config.System { return b.system.Load() }

func (b *gatewayBackend) Limiter() *ratelimit.Limiter { return b.opts.Limiter }

func (b *gatewayBackend) AppendAudit(ctx context.Context, e store.AuditEntry) error {
	_, err := b.opts.Store.AppendAudit(ctx, e)
	return err
}
