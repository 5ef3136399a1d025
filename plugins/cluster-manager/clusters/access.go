package clusters

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/kube"
	"github.com/kubestellar/ksplugins/sdk/kubeconfig"
)

// FieldError is bad input: Field names what is wrong, in the request's own
// terms ("clusterName", "kubeconfig", "labels.env").
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// ErrNoAccess is returned when the host gives the plugin no way to a
// cluster it needs (the hub's or the WDS's context): the host has no such
// context, or did not grant it.
var ErrNoAccess = errors.New("no access to the cluster")

// Target says how to reach a workload execution cluster: a kubeconfig the
// caller brings, or a context of the host's kubeconfig.
type Target struct {
	// Kubeconfig is a whole kubeconfig file; its current context is used
	// unless Context names another.
	Kubeconfig []byte
	// Context names a context of Kubeconfig, or of the host's kubeconfig
	// when Kubeconfig is empty.
	Context string
}

// IsZero reports whether t names no cluster at all.
func (t Target) IsZero() bool { return len(t.Kubeconfig) == 0 && t.Context == "" }

// cluster is one API server, reached through the host's mediation: the
// host holds its credentials and allows only what the plugin was granted.
type cluster struct {
	// name says which cluster this is in logs and answers.
	name string
	// server is the API server's address when the plugin knows it: a
	// caller's kubeconfig names it; the host keeps its own contexts'.
	server string
	cfg    *rest.Config
	dyn    dynamic.Interface
	// rc reads objects into typed local structs (get).
	rc *rest.RESTClient
}

// connect returns a client of the host's context (or external cluster)
// named context.
func (m *Manager) connect(context, name, server string) (*cluster, error) {
	cfg := kube.RESTConfig(m.opts.Kube, context)
	// Bound every request, so that a cluster that stops answering fails a
	// step instead of hanging it.
	cfg.Timeout = m.opts.RequestTimeout
	cfg.UserAgent = fieldManager
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client of %s: %w", name, err)
	}
	rc, err := rest.UnversionedRESTClientFor(dynamic.ConfigFor(cfg))
	if err != nil {
		return nil, fmt.Errorf("client of %s: %w", name, err)
	}
	return &cluster{name: name, server: server, cfg: cfg, dyn: dyn, rc: rc}, nil
}

// get reads the object or list at path, an API path, with the query
// parameters query, into v with
// encoding/json. Reading only the fields of v is several times faster than
// the dynamic client's unstructured objects, which matters in the sandbox,
// where decoding is most of a request's time. An error is the API server's
// (apierrors.IsNotFound and the like work).
func (c *cluster) get(ctx context.Context, path string, query url.Values, v any) error {
	req := c.rc.Get().AbsPath(path)
	for k, vs := range query {
		for _, val := range vs {
			req.Param(k, val)
		}
	}
	raw, err := req.Do(ctx).Raw()
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// reachable reports whether the host lets the plugin reach context.
func (m *Manager) reachable(context string) error {
	if m.opts.Kube == nil {
		return fmt.Errorf("%w: the host gave this plugin no Kubernetes access", ErrNoAccess)
	}
	if have := m.opts.Kube.Contexts(); !slices.Contains(have, context) {
		return fmt.Errorf("%w: context %q is not among those the host lets this plugin reach (%s)", ErrNoAccess, context, strings.Join(have, ", "))
	}
	return nil
}

// hub is the client of the hub, the ITS: the host's Options.ITSContext.
func (m *Manager) hub() (*cluster, error) {
	if err := m.reachable(m.opts.ITSContext); err != nil {
		return nil, fmt.Errorf("hub (ITS context %q): %w", m.opts.ITSContext, err)
	}
	return m.connect(m.opts.ITSContext, "the hub", "")
}

// wec resolves t to a client of a workload execution cluster. A
// kubeconfig given with the request goes to the host (sdk.Kubernetes's
// External), which keeps its credentials; it is read here too, as data
// only, to name a field it refuses and the server it names. A context
// alone must be one of the host's that the plugin may reach. Bad input is
// a FieldError: on "kubeconfig", or on the offending field within it
// ("kubeconfig.users[\"a\"].user.exec"), or on "context".
func (m *Manager) wec(t Target) (*cluster, error) {
	if len(t.Kubeconfig) > 0 {
		parsed, err := kubeconfig.Parse(t.Kubeconfig)
		if err != nil {
			return nil, requestError(err)
		}
		kc, err := parsed.Context(t.Context)
		if err != nil {
			return nil, requestError(err)
		}
		if m.opts.Kube == nil {
			return nil, &FieldError{Field: "kubeconfig", Message: "the host gave this plugin no Kubernetes access"}
		}
		name, err := m.opts.Kube.External(t.Kubeconfig, t.Context)
		if errors.Is(err, sdk.ErrExternalNotGranted) {
			return nil, &FieldError{Field: "kubeconfig", Message: "this plugin was not granted clusters that callers bring (external_clusters); name a context of the host instead"}
		}
		if err != nil {
			return nil, requestError(err)
		}
		return m.connect(name, kc.Cluster.Server, kc.Cluster.Server)
	}
	if t.Context == "" {
		return nil, &FieldError{Field: "kubeconfig", Message: "give a kubeconfig or a context of the host's kubeconfig"}
	}
	if err := m.reachable(t.Context); err != nil {
		return nil, &FieldError{Field: "context", Message: strings.TrimPrefix(err.Error(), ErrNoAccess.Error()+": ")}
	}
	return m.connect(t.Context, "context "+t.Context, "")
}

// requestError turns a problem with a request's kubeconfig into a
// FieldError that names the field: "kubeconfig" or a field within it, or
// "context".
func requestError(err error) error {
	var (
		refused *kubeconfig.RefusedError
		invalid *kubeconfig.InvalidError
	)
	switch {
	case errors.As(err, &refused):
		return &FieldError{Field: "kubeconfig." + refused.Field, Message: "refused: " + refused.Reason}
	case errors.As(err, &invalid) && invalid.Field == "":
		return &FieldError{Field: "kubeconfig", Message: "not a valid kubeconfig: " + invalid.Reason}
	case errors.As(err, &invalid):
		return &FieldError{Field: "kubeconfig." + invalid.Field, Message: "not a valid kubeconfig: " + invalid.Reason}
	case errors.Is(err, kubeconfig.ErrNoContext):
		return &FieldError{Field: "context", Message: err.Error()}
	}
	return &FieldError{Field: "kubeconfig", Message: err.Error()}
}

// version reads the API server's version (GET /version, which every grant
// allows). It does not use get: through the unversioned REST client, the
// mediation's 503 Status for a cluster it cannot reach loses its message
// (the connection error), which Validate must report.
func (c *cluster) version(ctx context.Context) (string, error) {
	hc, err := rest.HTTPClientFor(c.cfg)
	if err != nil {
		return "", fmt.Errorf("client of %s: %w", c.name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.cfg.Host+"/version", nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var v struct {
		GitVersion string `json:"gitVersion"`
		Message    string `json:"message"` // of a Status, on failure
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&v)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, v.Message)
	}
	return v.GitVersion, nil
}

// bootstrapKubeconfig is what the agent on a WEC uses to register with the
// hub: the hub's address and CA, and a token allowed only to register.
// Without a CA the agent trusts its system's roots.
func bootstrapKubeconfig(server string, ca []byte, token string) ([]byte, error) {
	type named struct {
		Name    string         `json:"name"`
		Cluster map[string]any `json:"cluster,omitempty"`
		User    map[string]any `json:"user,omitempty"`
		Context map[string]any `json:"context,omitempty"`
	}
	cl := map[string]any{"server": server}
	if len(ca) > 0 {
		cl["certificate-authority-data"] = ca // []byte: base64, as the field wants
	}
	doc := map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"clusters":        []named{{Name: "hub", Cluster: cl}},
		"users":           []named{{Name: "bootstrap", User: map[string]any{"token": token}}},
		"contexts":        []named{{Name: "bootstrap", Context: map[string]any{"cluster": "hub", "user": "bootstrap"}}},
		"current-context": "bootstrap",
	}
	data, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("write the bootstrap kubeconfig: %w", err)
	}
	return data, nil
}
